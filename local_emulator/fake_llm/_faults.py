"""Runtime faults: failures applied to every request while active, whatever its script.

A script's ``fail`` step fails one conversation at one step; a runtime fault fails the
fake as a whole, the way a provider's outage does: the next ``times`` requests, or every
request for ``for_s`` seconds from now, on ``path`` (``/v1/messages``,
``/v1/chat/completions``, a glob; both when omitted). It answers exactly as a failing
step with the same ``Fail`` does (429 with ``retry-after``, 529, the spend-limit 429, a
hang, a stream cut after its head, ...). The first active fault that matches is taken.

Over HTTP (no auth; the fake binds loopback)::

    POST   /_fake/faults   {kind, status?, message?, retry_after_s?, in_stream?, times?, for_s?, path?}
    GET    /_fake/faults   the faults still active
    DELETE /_fake/faults   clear them
"""

from __future__ import annotations

import fnmatch
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from ._scripts import Fail, _Model

_ids = itertools.count(1)


class FaultRequest(_Model):
    """The body of ``POST /_fake/faults``: a ``Fail`` and how long it lasts."""

    fail: Fail
    times: int | None = Field(default=None, ge=1)
    for_s: float | None = Field(default=None, gt=0)
    path: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _nest_fail(cls, raw: Any) -> Any:
        """Take the ``Fail`` fields flat, as the route documents them."""
        if not isinstance(raw, dict) or "fail" in raw:
            return raw
        outer = {k: raw[k] for k in ("times", "for_s", "path") if k in raw}
        return {**outer, "fail": {k: v for k, v in raw.items() if k not in outer}}

    @model_validator(mode="after")
    def _count_or_window(self) -> FaultRequest:
        if self.times is not None and self.for_s is not None:
            raise ValueError("a fault takes times or for_s, not both")
        return self


@dataclass(kw_only=True)
class RuntimeFault:
    """One active fault: ``times`` left, or a window ending at ``until`` (monotonic seconds)."""

    fail: Fail
    path: str | None = None
    times: int = 0
    for_s: float | None = None
    until: float | None = None
    taken: int = 0
    id: str = field(default_factory=lambda: f"fault-{next(_ids)}")

    def active(self, now: float) -> bool:
        return now < self.until if self.until is not None else self.times > 0

    def matches(self, path: str, now: float) -> bool:
        return self.active(now) and (self.path is None or fnmatch.fnmatchcase(path, self.path))

    def take(self) -> None:
        self.taken += 1
        if self.until is None:
            self.times -= 1

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.fail.model_dump(),
            "path": self.path,
            "times": self.times if self.until is None else None,
            "for_s": self.for_s,
            "taken": self.taken,
        }


class Faults:
    """The fake's runtime faults, in the order added."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._faults: list[RuntimeFault] = []

    def add(self, request: FaultRequest) -> RuntimeFault:
        now = self._clock()
        fault = RuntimeFault(
            fail=request.fail,
            path=request.path,
            times=0 if request.for_s is not None else request.times or 1,
            for_s=request.for_s,
            until=None if request.for_s is None else now + request.for_s,
        )
        self._faults.append(fault)
        return fault

    def take(self, path: str) -> RuntimeFault | None:
        """The first active fault for ``path``, counted; ``None`` when none applies."""
        now = self._clock()
        self._faults = [f for f in self._faults if f.active(now)]
        for fault in self._faults:
            if fault.matches(path, now):
                fault.take()
                return fault
        return None

    def active(self) -> list[RuntimeFault]:
        now = self._clock()
        return [f for f in self._faults if f.active(now)]

    def clear(self) -> None:
        self._faults.clear()

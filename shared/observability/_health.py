"""Readiness: what each dependency said, one answer for ``/readyz`` however a function is served.

The functions-framework targets (``shared.serving``) and the pump processes
(``shared.runtime``) both build a ``Readiness`` and answer with ``Readiness.answer``, so
a probe reads the same JSON from every function.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from shared.streams import Redis


@dataclass(frozen=True, kw_only=True)
class Readiness:
    """The state of each dependency: ``"ok"`` or what went wrong with it."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every dependency answered."""
        return all(state == "ok" for state in self.checks.values())

    @property
    def failing(self) -> list[str]:
        """Names of the dependencies that did not answer, sorted."""
        return sorted(name for name, state in self.checks.items() if state != "ok")

    def answer(self) -> tuple[int, dict[str, object]]:
        """The ``/readyz`` status and JSON body: 200 ``ready``, or 503 ``not ready`` naming what failed."""
        if self.ok:
            return 200, {"status": "ready", "checks": self.checks}
        return 503, {"status": "not ready", "failing": self.failing, "checks": self.checks}


async def check_redis(redis: Redis, timeout_s: float) -> str:
    """``"ok"`` when Redis answers a PING within ``timeout_s``, else what went wrong (for the operator)."""
    try:
        async with asyncio.timeout(timeout_s):
            await redis.ping()
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except Exception as exc:  # any failure is "not ready"; the reason is for the operator
        return f"unavailable: {type(exc).__name__}"
    return "ok"

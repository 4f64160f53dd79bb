"""Activation history: one line per recorded attempt, filtered, newest first (the CLI's and a web view's).

``TranscriptStore.list`` reads the index (``{p}:transcripts``, by start time) newest
first and each attempt's first and last entries (``begin``: agent and kind; ``end``:
outcome, calls, cost); an attempt still running (or cut off) has no ``end`` yet.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, kw_only=True)
class ActivationSummary:
    """One attempt of an activation, as a history line.

    ``outcome``, ``cost_usd`` and ``calls`` are ``None`` while the attempt has no ``end``
    entry (still running, or its runner died).
    """

    activation_id: str
    attempt: int
    agent: str
    kind: str
    started: datetime
    outcome: str | None
    cost_usd: float | None
    calls: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``started`` as an ISO 8601 string."""
        return {**asdict(self), "started": self.started.isoformat()}

    @classmethod
    def of(
        cls, *, member: str, started_s: float, begin: dict[str, Any] | None, end: dict[str, Any] | None
    ) -> ActivationSummary:
        """From an index member ``<id>:<attempt>``, its start time and the attempt's first and last entries."""
        activation_id, _, attempt = member.rpartition(":")
        begin = begin if begin and begin.get("kind") == "begin" else {}
        end = end if end and end.get("kind") == "end" else None
        return cls(
            activation_id=activation_id,
            attempt=int(attempt) if attempt.isdigit() else 0,
            agent=str(begin.get("agent") or "?"),
            kind=str(begin.get("activation_kind") or "?"),
            started=datetime.fromtimestamp(started_s, UTC),
            outcome=None if end is None else str(end.get("outcome") or "?"),
            cost_usd=None if end is None else float(end.get("cost_usd") or 0),
            calls=None if end is None else int(end.get("calls") or 0),
        )


def parse_since(value: str, *, now: datetime) -> datetime:
    """A lower bound on start times: ISO 8601 (``2026-12-03T09:00Z``; naive means UTC) or relative to ``now``.

    Relative: a number and a unit, ``s``, ``m``, ``h``, ``d`` or ``w`` (``30m``, ``1h``, ``2d``).

    Raises:
        ValueError: neither form; the message names the value and both forms.
    """
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = relative.groups()
        return now - timedelta(**{_UNITS[unit]: float(amount)})
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since {value!r}: not an ISO 8601 time (2026-12-03T09:00Z) nor a relative one (30m, 1h, 2d)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)

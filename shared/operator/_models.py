"""What an operator sees of an agent: frozen dataclasses, each with a JSON-ready ``as_dict``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True, kw_only=True)
class ActivationSummary:
    """One attempt of an activation, from its transcript: how it ended and what it cost."""

    id: str
    attempt: int
    agent: str
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO times, USD as a float."""
        return {
            "id": self.id,
            "attempt": self.attempt,
            "agent": self.agent,
            "outcome": self.outcome,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True, kw_only=True)
class BreakerState:
    """The agent's circuit breaker: ``closed``, ``open`` or ``half_open``, and when it half-opens."""

    state: str = "closed"
    failures: int = 0
    half_opens_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO times."""
        return {"state": self.state, "failures": self.failures, "half_opens_at": _iso(self.half_opens_at)}


@dataclass(frozen=True, kw_only=True)
class Pause:
    """Who paused an agent, and when."""

    by: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO times."""
        return {"by": self.by, "at": _iso(self.at)}


@dataclass(frozen=True, kw_only=True)
class AgentState:
    """One agent as the operator sees it.

    ``pools`` are the runner pools that serve it (``notification``, and ``exploration``
    when its discovery is enabled); ``open_activations`` the ids of its inbox activations
    still waiting on their streams, ``queued_notifications`` how many notifications they
    carry. ``daily_budget_usd`` is the Hub's last known daily limit (``None``: unknown).
    """

    name: str
    hub_id: str | None
    type: str | None
    pools: tuple[str, ...]
    last_activation: ActivationSummary | None
    spent_today_usd: float
    daily_budget_usd: float | None
    breaker: BreakerState
    paused: Pause | None
    open_activations: tuple[str, ...]
    queued_notifications: int
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO times, USD as floats."""
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "type": self.type,
            "pools": list(self.pools),
            "last_activation": self.last_activation.as_dict() if self.last_activation else None,
            "spent_today_usd": self.spent_today_usd,
            "daily_budget_usd": self.daily_budget_usd,
            "breaker": self.breaker.as_dict(),
            "paused": self.paused is not None,
            "paused_by": self.paused.as_dict() if self.paused else None,
            "open_activations": list(self.open_activations),
            "queued_notifications": self.queued_notifications,
            "problem": self.problem,
        }


@dataclass(frozen=True, kw_only=True)
class AgentDetail:
    """An agent's state, its definition's source and version, today's limits and recent activations."""

    state: AgentState
    source: str | None
    version: str | None
    limits_today: dict[str, int] = field(default_factory=dict)
    recent: tuple[ActivationSummary, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the state's fields, then the detail's."""
        return {
            **self.state.as_dict(),
            "source": self.source,
            "version": self.version,
            "limits_today": dict(self.limits_today),
            "recent": [a.as_dict() for a in self.recent],
        }


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One control an operator used: who, what, on what, when, and what came of it."""

    id: str
    who: str
    action: str
    target: str
    at: datetime
    result: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO times."""
        return {
            "id": self.id,
            "who": self.who,
            "action": self.action,
            "target": self.target,
            "at": _iso(self.at),
            "result": self.result,
        }

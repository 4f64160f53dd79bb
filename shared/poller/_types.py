"""What the poller is configured with, what it depends on, and what a tick reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


class BudgetVerdictLike(Protocol):
    """The part of a budget verdict the poller reads."""

    @property
    def allowed(self) -> bool:
        """Whether the agent may be activated."""
        ...

    @property
    def reason(self) -> str:
        """Why not (or why), for logs."""
        ...


class BudgetCheck(Protocol):
    """Anything that answers "may this agent spend now?" (``shared.accounting.BudgetGate``)."""

    async def check(self, agent_id: str) -> BudgetVerdictLike:
        """The verdict for ``agent_id``."""
        ...


@dataclass(frozen=True, kw_only=True)
class Allowed:
    """A verdict that allows."""

    allowed: bool = True
    reason: str = "no budget gate"


class AllowAll:
    """A budget check that allows everything (until ``shared.accounting`` is wired in)."""

    async def check(self, agent_id: str) -> BudgetVerdictLike:
        """Always allowed."""
        return Allowed()


@dataclass(frozen=True, kw_only=True)
class PollerOptions:
    """Tuning of the poller beyond ``PollerSettings``.

    Attributes:
        holder: this poller's name in the lease value (``<token>:<holder>``).
        lease_ttl_s: how long the lease outlives a silent poller; it is renewed a few
            times per TTL while a tick runs.
        long_poll_max_s: the longest single long-poll request.
        batch_size: agents asked for per poll.
        queued_ttl_s: how long a notification counts as queued (its activation is
            expected to have marked it read by then); after it, the notification is
            queued again.
        max_notifications: the most notifications one inbox activation carries: new
            ones join the agent's activation still waiting on its stream until it holds
            this many (``ActivationQueue``); 0 queues one activation per batch found.
        idle_wait_s: pause between poll rounds that found nothing new to publish, so
            unread notifications already queued do not spin the long-poll.
        tail_s: how much of the window is left unpolled at the end of a tick.
    """

    holder: str = "poller"
    lease_ttl_s: float = 30.0
    long_poll_max_s: float = 25.0
    batch_size: int = 50
    queued_ttl_s: float = 1800.0
    max_notifications: int = 50
    idle_wait_s: float = 1.0
    tail_s: float = 2.0


@dataclass(kw_only=True)
class TickReport:
    """What one tick (or ingest) did.

    ``published`` holds the ids of the events it queued, ``joined`` those of the open
    activations that new notifications joined instead (see ``ActivationQueue``).

    ``skipped`` counts agents (or notifications) passed over, by reason:
    ``already_queued``, ``breaker_open``, ``paused`` (by an operator), ``budget: <reason>``, ``unknown_agent``,
    ``invalid_agent``, ``too_soon``, ``lease_lost``, ``mode``.
    """

    leader: bool = True
    polled: int = 0
    published: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    marked_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    long_poll: bool | None = None
    promoted: int = 0
    lease_lost: bool = False

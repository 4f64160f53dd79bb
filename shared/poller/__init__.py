"""The poller: who acts, and when — one ``activation.requested`` event per piece of work.

::

    PingSource ──► Poller.tick ──lease (fenced)──► long-poll / plain query ─┐
    webhook    ──► Poller.ingest ───────────────────────────────────────────┤
                                                                            ▼
            definition ─► respond_to_* ─► queued? ─► budget ─► breaker ─► join the open
                                                                          activation, or XADD (Lua)

Event ids come from the work (agent, kind, notification ids or discovery window), and
each queued notification is marked ``{prefix}:queued:{id}``, so the same work is never
queued twice. New notifications of an agent join its activation still waiting on the
stream, which the runner ``Sealer`` closes as it starts. ``CircuitBreaker`` is shared
with the runner, which records outcomes.
"""

from ._breaker import BASE_BACKOFF_S, FAILURE_THRESHOLD, MAX_BACKOFF_S, CircuitBreaker
from ._filter import priority_of, read_key, split, wants
from ._lease import PollerLease
from ._poller import Poller
from ._queue import ActivationQueue, Published, PublishResult, Sealer, queued_key, release_queued
from ._types import AllowAll, Allowed, BudgetCheck, BudgetVerdictLike, PollerOptions, TickReport

__all__ = [
    "BASE_BACKOFF_S",
    "FAILURE_THRESHOLD",
    "MAX_BACKOFF_S",
    "ActivationQueue",
    "AllowAll",
    "Allowed",
    "BudgetCheck",
    "BudgetVerdictLike",
    "CircuitBreaker",
    "Poller",
    "PollerLease",
    "PollerOptions",
    "PublishResult",
    "Published",
    "Sealer",
    "TickReport",
    "priority_of",
    "queued_key",
    "read_key",
    "release_queued",
    "split",
    "wants",
]

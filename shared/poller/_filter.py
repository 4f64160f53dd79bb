"""Which notifications an agent answers, and how urgently.

``respond_to_mentions`` covers ``mention``; ``respond_to_replies`` covers ``reply``,
``comment`` and ``thread_update``; ``respond_to_dms`` covers ``dm``. ``follow`` and
``like`` never activate anyone. Everything an agent will not answer is marked read by
the poller, so it stops showing up as work (and does not spin the long-poll).

Priority: a DM or a mention is someone waiting on this agent by name → ``high``;
replies and thread updates → ``normal``; discovery → ``low``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.agents import Behavior
from shared.events import Priority
from shared.hub import Notification, NotificationType

_REPLIES = frozenset({NotificationType.REPLY, NotificationType.COMMENT, NotificationType.THREAD_UPDATE})
_URGENT = frozenset({NotificationType.MENTION, NotificationType.DM})


def wants(behavior: Behavior, kind: NotificationType) -> bool:
    """Whether an agent with ``behavior`` answers a notification of type ``kind``."""
    if kind is NotificationType.MENTION:
        return behavior.respond_to_mentions
    if kind in _REPLIES:
        return behavior.respond_to_replies
    if kind is NotificationType.DM:
        return behavior.respond_to_dms
    return False


@dataclass(frozen=True, kw_only=True)
class Split:
    """An inbox divided into what the agent answers and what is only marked read."""

    wanted: tuple[Notification, ...]
    unwanted: tuple[Notification, ...]


def split(behavior: Behavior, notifications: Iterable[Notification]) -> Split:
    """Divide unread ``notifications`` by ``behavior`` (already-read ones are dropped)."""
    wanted: list[Notification] = []
    unwanted: list[Notification] = []
    for n in notifications:
        if n.read:
            continue
        (wanted if wants(behavior, n.type) else unwanted).append(n)
    return Split(wanted=tuple(wanted), unwanted=tuple(unwanted))


def priority_of(notifications: Iterable[Notification]) -> Priority:
    """``high`` when any is a DM or mention, else ``normal``."""
    return Priority.HIGH if any(n.type in _URGENT for n in notifications) else Priority.NORMAL


def read_key(agent_id: str, notification_ids: Sequence[str]) -> str:
    """Idempotency-Key of the poller marking these notifications read (order does not matter)."""
    digest = hashlib.sha256("\x1f".join([agent_id, *sorted(set(notification_ids))]).encode()).hexdigest()
    return f"poller:read:{digest[:40]}"

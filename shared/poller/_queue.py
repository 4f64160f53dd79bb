"""Fenced, deduplicated, coalescing publication of activation requests.

One Lua script checks the poller lease value (when the caller holds one), the agent's
last activation time (for discovery), and the ``{prefix}:queued:{notification id}``
markers, then sets the markers, XADDs the event and stamps ``{prefix}:activated:{agent}``
— all or nothing. A later tick that sees the same unread notifications (plus new ones)
therefore queues only the new ones, and a deposed poller queues nothing.

Coalescing (ARCHITECTURE.md's "coalesce" policy for a busy agent): an inbox activation
stays *open* while it waits on its stream (``{prefix}:open:{agent}:{priority}`` holds
its event id). New notifications of the agent at that priority join it (the set
``{prefix}:joined:{agent}:{priority}``, at most ``max_notifications`` in all) instead of
queuing an activation each. When a runner starts the activation it *seals* it
(``Sealer``): the open marker goes and the joined set becomes the event's own
``{prefix}:sealed:{event id}``, so every retry answers the same notifications, and
whatever arrives afterwards opens the next activation. An open activation too full to
join is sealed the same way by the publication that finds it full, which then opens
its own. A burst of mentions for one agent becomes a few activations, not one per
mention.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cloudevents.http import CloudEvent

from shared.events import Priority, to_fields
from shared.streams import Redis, StreamKeys, translated

from . import _scripts


class Published(enum.IntEnum):
    """What became of one publication."""

    PUBLISHED = 1
    JOINED = 2
    NOT_JOINED = 0
    LEASE_LOST = -1
    TOO_SOON = -2
    ALREADY_QUEUED = -3


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    """The status and, when published, the stream entry id; when joined, the open event's id."""

    status: Published
    entry_id: str = ""
    joined: str = ""


def queued_key(keys: StreamKeys, notification_id: str) -> str:
    """The marker saying an activation is queued for ``notification_id``."""
    return f"{keys.prefix}:queued:{notification_id}"


async def release_queued(redis: Redis, keys: StreamKeys, notification_ids: Sequence[str]) -> None:
    """Forget that activations were queued for ``notification_ids``, so the next tick queues them again.

    The runner calls this for notifications its activation left unanswered (a cap stopped
    it, or a minimum interval refused the write), which would otherwise wait out the
    marker's ttl.
    """
    if notification_ids:
        async with translated("DEL queued markers"):
            await redis.delete(*(queued_key(keys, n) for n in notification_ids))


def _open_key(keys: StreamKeys, agent_id: str, priority: Priority) -> str:
    return f"{keys.prefix}:open:{agent_id}:{priority.value}"


def _joined_key(keys: StreamKeys, agent_id: str, priority: Priority) -> str:
    return f"{keys.prefix}:joined:{agent_id}:{priority.value}"


def _sealed_key(keys: StreamKeys, event_id: str) -> str:
    return f"{keys.prefix}:sealed:{event_id}"


class Sealer:
    """What the runner calls as an inbox activation starts: the notifications that joined it."""

    def __init__(self, redis: Redis, keys: StreamKeys, *, ttl_s: float) -> None:
        self._keys = keys
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._seal = _scripts.register(redis, _scripts.SEAL)

    async def __call__(self, *, agent_id: str, priority: Priority, event_id: str) -> list[str]:
        """Close the activation ``event_id`` to newcomers; the ids that joined it (its own among them).

        The same answer on every retry of the event (until ``ttl_s`` after the first).

        Raises:
            StreamUnavailable: Redis failed.
        """
        keys = [
            _open_key(self._keys, agent_id, priority),
            _joined_key(self._keys, agent_id, priority),
            _sealed_key(self._keys, event_id),
        ]
        members = await _scripts.run(self._seal, keys, [event_id, self._ttl_ms], what="seal activation")
        return sorted(text for m in members if (text := _scripts_text(m)))


class ActivationQueue:
    """Publishes ``activation.requested`` events on the priority streams."""

    def __init__(
        self, redis: Redis, keys: StreamKeys, *, lease_key: str, queued_ttl_s: float, max_notifications: int = 0
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._lease_key = lease_key
        self._queued_ttl_ms = max(1, int(queued_ttl_s * 1000))
        self._max_notifications = max_notifications
        self._publish = _scripts.register(redis, _scripts.PUBLISH)

    def queued_key(self, notification_id: str) -> str:
        """The marker saying a notification's activation is queued."""
        return queued_key(self._keys, notification_id)

    def activated_key(self, agent_id: str) -> str:
        """Epoch seconds of the agent's last queued activation."""
        return f"{self._keys.prefix}:activated:{agent_id}"

    async def unqueued(self, notification_ids: Sequence[str]) -> list[str]:
        """Those of ``notification_ids`` with no activation queued for them."""
        if not notification_ids:
            return []
        async with translated("MGET queued markers"):
            markers = await self._redis.mget([self.queued_key(n) for n in notification_ids])
        return [n for n, m in zip(notification_ids, markers, strict=True) if m is None]

    async def last_activated(self, agent_id: str) -> float | None:
        """When an activation of ``agent_id`` was last queued (epoch seconds), if within memory."""
        async with translated("GET activated"):
            raw = await self._redis.get(self.activated_key(agent_id))
        return float(raw) if raw is not None else None

    async def publish(
        self,
        event: CloudEvent,
        *,
        priority: Priority,
        now_s: float,
        notification_ids: Sequence[str] = (),
        lease_value: str | None = None,
        min_interval_s: float | None = None,
        max_notifications: int | None = None,
        join_only: bool = False,
    ) -> PublishResult:
        """Publish ``event`` unless the lease moved, it is too soon, or a notification is queued.

        An inbox activation (``notification_ids`` given) joins the agent's open activation
        of the same priority instead, if it has one with room; see the module docstring.

        Args:
            event: the activation request.
            priority: which stream it goes on.
            now_s: epoch seconds, stamped as the agent's last activation.
            notification_ids: markers to check and set (inbox activations).
            lease_value: the poller lease value to check; None publishes unfenced (ingest).
            min_interval_s: refuse when the agent's last activation is more recent (discovery).
            max_notifications: the most an open activation of this agent may carry, when
                lower than the queue's own (an agent answers at most ``max_iterations``).
            join_only: join the open activation if it has room, else ``NOT_JOINED``: publish
                nothing and leave a full one open.

        Raises:
            StreamUnavailable: Redis failed.
        """
        agent_id = str(event["subject"])
        fields = {} if join_only else to_fields(event)
        keys = [
            self._lease_key,
            self._keys.activations(priority),
            self.activated_key(agent_id),
            _open_key(self._keys, agent_id, priority),
            _joined_key(self._keys, agent_id, priority),
            *(self.queued_key(n) for n in notification_ids),
        ]
        activated_ttl_ms = int(max((min_interval_s or 0) * 2, 3600) * 1000)
        args: list[str | bytes | int | float] = [
            lease_value or "",
            self._queued_ttl_ms,
            repr(now_s),
            "" if min_interval_s is None else repr(min_interval_s),
            activated_ttl_ms,
            str(event["id"]),
            min(self._max_notifications, max_notifications or self._max_notifications) if notification_ids else 0,
            _sealed_key(self._keys, ""),
            "1" if join_only else "",
            len(fields),
        ]
        for name, value in fields.items():
            args += [name, value]
        args += list(notification_ids)
        status, answer = await _scripts.run(self._publish, keys, args, what="publish activation")
        published = Published(int(status))
        if published is Published.JOINED:
            return PublishResult(status=published, joined=_scripts_text(answer))
        return PublishResult(status=published, entry_id=_scripts_text(answer))


def _scripts_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

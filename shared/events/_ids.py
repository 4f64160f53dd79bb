"""Deterministic event ids: the same work always gets the same id.

An activation's id is its idempotency key on the Hub, so it must be derived only
from what the activation is for, never from when or where it was built.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime

from ._models import ActivationKind

# Fixed forever: changing it would give in-flight work new ids and duplicate its effects.
NAMESPACE = uuid.UUID("6b1f4c1e-3d0a-5c55-9d59-5f0c2a7e6b10")


_NAMESPACE_BYTES = NAMESPACE.bytes


def _derive(*parts: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))``, without building UUID objects (a hot path)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def activation_id(
    *,
    agent_id: str,
    kind: ActivationKind,
    notification_ids: Iterable[str] = (),
    window_start: datetime | None = None,
) -> str:
    """Id of the activation of ``agent_id`` for these notifications (or this discovery window).

    Notification order does not matter. A discovery activation is named by the start of
    its window, so two pollers that see the same stale agent in one window agree.
    """
    if kind is ActivationKind.DISCOVERY:
        if window_start is None:
            raise ValueError("a discovery activation needs window_start")
        return _derive("activation", agent_id, kind.value, window_start.isoformat())
    ids = sorted(set(notification_ids))
    if not ids:
        raise ValueError("an inbox activation needs at least one notification id")
    return _derive("activation", agent_id, kind.value, *ids)


def completion_id(activation_id: str, attempt: int) -> str:
    """Id of the completed event of one attempt; every attempt that spent tokens reports."""
    return _derive("completed", activation_id, str(attempt))


def deadletter_id(stream: str, entry_id: str) -> str:
    """Id of the dead-letter record of one stream entry."""
    return _derive("deadlettered", stream, entry_id)


def notification_event_id(*, agent_id: str | None, notification_id: str | None, at: datetime) -> str:
    """Id of a pushed notification: the notification's own id, or the nudge's agent and second."""
    if notification_id:
        return _derive("notification", notification_id)
    if not agent_id:
        raise ValueError("needs agent_id or notification_id")
    return _derive("nudge", agent_id, at.replace(microsecond=0).isoformat())


def ping_id(at: datetime) -> str:
    """Id of a tick, by the minute it fires in (PingSource may fire twice)."""
    return _derive("ping", at.replace(second=0, microsecond=0).isoformat())

"""The transport: CloudEvents on Redis Streams with at-least-once delivery.

Priority streams ``<prefix>:activations:{high,normal,low}`` with the consumer group
``runners`` created up front; a ``Pump`` per runner claims weighted batches, holds a
per-agent lease (fencing token) while the handler runs, heartbeats, reclaims what dead
runners left, retries with backoff and dead-letters after ``max_deliveries``; the
``EffectLedger`` makes effects land once. See ``_pump`` for the life of an entry.
"""

from ._admin import (
    StreamStatus,
    TransportStatus,
    ensure_groups,
    promote_due,
    prune_consumers,
    stream_status,
    transport_groups,
    transport_status,
    trim_acknowledged,
)
from ._config import DEFAULT_WEIGHTS, StreamSettings
from ._delivery import Delivery, Handler, Outcome, RetryLater, current_delivery
from ._dlq import DeadLetter, DeadLetters
from ._keys import StreamKeys
from ._ledger import EffectLedger
from ._metrics import StreamMetrics, status_families
from ._publish import Publisher
from ._pump import Pump
from ._redis import Pipeline, Redis, Scripts, await_version, connect, require_version, server_version, text, translated
from ._route import Route
from ._tasks import SameTurn, TurnBatch

__all__ = [
    "DEFAULT_WEIGHTS",
    "DeadLetter",
    "DeadLetters",
    "Delivery",
    "EffectLedger",
    "Handler",
    "Outcome",
    "Pipeline",
    "Publisher",
    "Pump",
    "Redis",
    "RetryLater",
    "Route",
    "SameTurn",
    "Scripts",
    "StreamKeys",
    "StreamMetrics",
    "StreamSettings",
    "StreamStatus",
    "TransportStatus",
    "TurnBatch",
    "await_version",
    "connect",
    "current_delivery",
    "ensure_groups",
    "promote_due",
    "prune_consumers",
    "require_version",
    "server_version",
    "status_families",
    "stream_status",
    "text",
    "translated",
    "transport_groups",
    "transport_status",
    "trim_acknowledged",
]

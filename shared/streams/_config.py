"""Tunables of the transport, as one frozen dataclass with units in the names."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.events import Priority

DEFAULT_WEIGHTS: dict[Priority, int] = {Priority.HIGH: 6, Priority.NORMAL: 3, Priority.LOW: 1}


@dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """How the streams are named and how consumers pace themselves.

    Attributes:
        prefix: first segment of every key (``botburrow:activations:high`` …).
        group: consumer group of the runners on the activation streams.
        results_group: consumer group created up front on the results stream, so its
            history can be trimmed once consumed.
        max_deliveries: deliveries after which an event is dead-lettered.
        lease_ttl_ms: how long a runner may go silent (no heartbeat) before its entries
            and agent leases are taken over by another runner. Lease keys live a little
            longer (``lease_key_ttl_ms``) so the takeover finds them still in place.
        heartbeat_every_s: how often leases and entry idle times are refreshed.
        reclaim_every_s: how often idle entries of dead consumers are looked for.
        promote_every_s: how often due delayed entries go back onto their stream.
        trim_every_s: how often acknowledged history is trimmed.
        status_every_s: how often lag, pending and delayed counts are sampled into the
            Prometheus gauges.
        block_ms: longest a claim waits on an empty stream before looping; a stop is
            noticed within it.
        retry_base_s / retry_max_s: backoff after a handler failure, doubling per
            delivery, with +/-20% jitter.
        defer_base_s / defer_max_s: delay before an event whose agent is busy on
            another runner is tried again, doubling per deferral up to the cap. The
            cap stays small: the wait ends when another activation does, not when a
            failing dependency recovers, and a bounce costs one round trip. Small
            values matter with coalescing: the deferred event is the agent's open
            activation, and its notifications wait as long as it does (the e2e bench
            went from 75 to 190 replies/s going from 0.5/5 s to 0.05/1 s).
        weights: relative share of claim slots per priority when all have work.
        prune_consumers_after_s: a consumer with no pending entries and idle this
            long is removed from the group (dead pods leave their names behind).
    """

    prefix: str = "botburrow"
    group: str = "runners"
    results_group: str = "metrics"
    max_deliveries: int = 5
    lease_ttl_ms: int = 10_000
    heartbeat_every_s: float = 2.5
    reclaim_every_s: float = 2.0
    promote_every_s: float = 0.25
    trim_every_s: float = 10.0
    status_every_s: float = 5.0
    block_ms: int = 1_000
    retry_base_s: float = 4.0
    retry_max_s: float = 300.0
    defer_base_s: float = 0.05
    defer_max_s: float = 1.0
    weights: dict[Priority, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    prune_consumers_after_s: float = 3_600.0

    @property
    def lease_key_ttl_ms(self) -> int:
        """Life of a lease key without heartbeat: the ttl plus two reclaim ticks and a second."""
        return self.lease_ttl_ms + int(2_000 * self.reclaim_every_s) + 1_000

    def __post_init__(self) -> None:
        problems = []
        if self.max_deliveries < 1:
            problems.append("max_deliveries must be at least 1")
        if self.lease_ttl_ms < 100:
            problems.append("lease_ttl_ms must be at least 100")
        if not 0 < self.heartbeat_every_s * 1000 <= self.lease_ttl_ms / 2:
            problems.append("heartbeat_every_s must be positive and at most half of lease_ttl_ms")
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            problems.append("weights must be non-negative and not all zero")
        if set(self.weights) != set(Priority):
            problems.append("weights must name high, normal and low")
        if problems:
            raise ValueError("; ".join(problems))

"""Prometheus metrics of the transport, declared once on an injected registry.

The status gauges (lag, pending, length, delayed, DLQ size) have two sources sharing one
reading (``transport_status``): a pump samples its own streams into ``StreamMetrics``
every ``status_every_s``; the always-on metrics function reads every stream at scrape
time and exports the same names through ``status_families``, so they outlive runners.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from ._admin import TransportStatus

# Dispatch latency is sub-millisecond when idle; the low buckets are where it lives.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


# name -> help of the status gauges, labelled by stream (the DLQ size has no label).
_STATUS = {
    "lag": ("botburrow_stream_lag", "Entries not yet delivered to the group (what KEDA scales on)."),
    "pending": ("botburrow_stream_pending", "Entries delivered and not yet acknowledged."),
    "length": ("botburrow_stream_length", "Entries held by the stream."),
    "delayed": ("botburrow_stream_delayed", "Entries waiting to go back onto the stream."),
}
_DLQ = ("botburrow_dlq_size", "Entries in the dead-letter stream.")


def _lag(value: int | None) -> float:
    # Redis cannot tell the lag after an XDEL of an undelivered entry: NaN, not a made-up 0.
    return float("nan") if value is None else float(value)


def status_families(status: TransportStatus) -> list[Metric]:
    """The status gauges of ``status`` as metric families (what a scrape-time collector yields)."""
    families = {field: GaugeMetricFamily(name, doc, labels=["stream"]) for field, (name, doc) in _STATUS.items()}
    for s in status.streams:
        families["lag"].add_metric([s.stream], _lag(s.lag))
        families["pending"].add_metric([s.stream], s.pending)
        families["length"].add_metric([s.stream], s.length)
        families["delayed"].add_metric([s.stream], s.delayed)
    return [*families.values(), GaugeMetricFamily(*_DLQ, value=status.dlq_size)]


class StreamMetrics:
    """Counters, gauges and histograms of one process's pumps and publishers.

    Args:
        registry: where the metrics are declared.
        status: whether the status gauges are exported from here; ``False`` in a process
            that exports them itself at scrape time (the metrics function), which would
            otherwise declare the same names twice. The pump still samples them, unexported.
    """

    def __init__(self, registry: CollectorRegistry, *, status: bool = True) -> None:
        self.registry = registry
        on = registry if status else CollectorRegistry(auto_describe=True)
        self.lag = Gauge(*_STATUS["lag"], ["stream"], registry=on)
        self.pending = Gauge(*_STATUS["pending"], ["stream"], registry=on)
        self.length = Gauge(*_STATUS["length"], ["stream"], registry=on)
        self.delayed = Gauge(*_STATUS["delayed"], ["stream"], registry=on)
        self.dlq_size = Gauge(*_DLQ, registry=on)
        self.claimed = Counter(
            "botburrow_events_claimed_total", "Entries claimed, by how.", ["stream", "how"], registry=registry
        )
        self.settled = Counter(
            "botburrow_events_settled_total", "Entries settled, by action.", ["action"], registry=registry
        )
        self.not_owned = Counter(
            "botburrow_events_not_owned_total",
            "Settlements skipped because another consumer had reclaimed the entry.",
            registry=registry,
        )
        self.deadlettered = Counter(
            "botburrow_events_deadlettered_total",
            "Entries moved to the dead-letter stream.",
            ["reason"],
            registry=registry,
        )
        self.handler_failures = Counter(
            "botburrow_handler_failures_total", "Handler calls that raised.", ["error"], registry=registry
        )
        self.leases = Counter("botburrow_leases_total", "Agent lease outcomes.", ["result"], registry=registry)
        self.dispatch_latency = Histogram(
            "botburrow_dispatch_latency_seconds",
            "Publish to handler start.",
            ["stream"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.handler_duration = Histogram(
            "botburrow_handler_duration_seconds",
            "Handler run time.",
            buckets=(0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800),
            registry=registry,
        )
        self.in_flight = Gauge("botburrow_events_in_flight", "Entries held by this process.", registry=registry)
        self.promoted = Counter(
            "botburrow_events_promoted_total", "Delayed entries moved back onto their stream.", registry=registry
        )
        self.trimmed = Counter(
            "botburrow_events_trimmed_total", "Acknowledged entries trimmed from streams.", registry=registry
        )

    def set_status(self, status: TransportStatus) -> None:
        """Set the status gauges from one reading of the streams."""
        for s in status.streams:
            self.lag.labels(s.stream).set(_lag(s.lag))
            self.pending.labels(s.stream).set(s.pending)
            self.length.labels(s.stream).set(s.length)
            self.delayed.labels(s.stream).set(s.delayed)
        self.dlq_size.set(status.dlq_size)

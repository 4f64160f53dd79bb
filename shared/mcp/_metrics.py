"""Prometheus metrics of MCP, declared once on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class McpMetrics:
    """Tool calls by server, tool and outcome; their latency; servers started; tools refused.

    Args:
        registry: where the metrics are declared (one ``McpMetrics`` per registry).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "botburrow_mcp_calls_total",
            "MCP tool calls, by server, tool and outcome (ok, error, timeout, unavailable).",
            ["server", "tool", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "botburrow_mcp_call_seconds",
            "How long MCP tool calls took, by server.",
            ["server"],
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.started = Counter(
            "botburrow_mcp_servers_started_total",
            "MCP servers started for activations, by server and outcome (ok, failed).",
            ["server", "outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "botburrow_mcp_tools_refused_total",
            "Tools an MCP server offered that were not passed on, by server and reason (not_granted, changed).",
            ["server", "reason"],
            registry=registry,
        )

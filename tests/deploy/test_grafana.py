"""The Grafana dashboard: valid JSON, and every ``botburrow_*`` series it queries is one the code exports."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry

from functions.metrics.gauges import scrape_gauges
from shared.accounting import AccountingMetrics, BudgetMetrics
from shared.observability import ActivationMetrics
from shared.runtime import Runtime
from shared.settings import Settings
from shared.streams import Redis, StreamKeys, StreamMetrics
from tests.support import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "botburrow.json"
NAME = re.compile(r"\bbotburrow_[a-z0-9_]+")
# The sample names Prometheus stores for a family of each type.
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}


def queries(node: Any) -> Iterator[str]:
    """Every PromQL expression of the dashboard: panel targets and templating queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str | dict):
                yield from ([value] if isinstance(value, str) else queries(value))
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


async def exported(redis: Redis, keys: StreamKeys) -> set[str]:
    """The series names the functions declare: the metric classes and the metrics function's scrape gauges."""
    registry = CollectorRegistry()
    StreamMetrics(registry)
    ActivationMetrics(registry)
    AccountingMetrics(registry)
    BudgetMetrics(registry)
    scrape = CollectorRegistry()
    scrape_gauges(Runtime.over(Settings(), redis, keys, scrape))
    families = [*registry.collect(), *await asyncio.to_thread(lambda: list(scrape.collect()))]
    return {f.name + suffix for f in families for suffix in SUFFIXES.get(f.type, ("",))}


async def test_the_dashboard_queries_only_series_the_code_exports(redis: Redis, keys: StreamKeys) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = list(queries(dashboard))
    assert len([p for p in dashboard["panels"] if p["type"] != "row"]) >= 10
    used = {name for expr in expressions for name in NAME.findall(expr)}
    known = await exported(redis, keys)
    assert not used - known, f"{DASHBOARD.name} queries series no code exports: {sorted(used - known)}"
    for wanted in (
        "botburrow_stream_lag",
        "botburrow_stream_pending",
        "botburrow_dlq_size",
        "botburrow_activations_recorded_total",
        "botburrow_cost_usd_total",
        "botburrow_agent_spend_usd",
        "botburrow_agent_in_backoff",
        "botburrow_budget_checks_total",
    ):
        assert wanted in used, f"the dashboard has no panel on {wanted}"


def test_every_panel_reads_the_import_time_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"

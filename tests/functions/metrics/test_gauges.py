"""The metrics function's scrape-time gauges: stream status with no runner running, breakers, spend."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from functions.metrics.gauges import scrape_gauges
from local_emulator.hub import DEFAULT_API_KEY, MockHubServer
from shared.accounting import UsageBook
from shared.events import (
    ActivationCompleted,
    ActivationKind,
    Priority,
    Usage,
    activation_completed,
    activation_requested,
    parse_data,
)
from shared.poller import CircuitBreaker
from shared.runtime import Runtime
from shared.settings import Settings
from shared.streams import Publisher, Redis, StreamKeys, connect, ensure_groups, transport_groups
from tests.support import ROOT, free_port
from tests.support.served import Served, serve_target

METRICS_SOURCE = str(ROOT / "functions" / "metrics" / "main.py")


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, as Prometheus would parse the exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def request(agent: str) -> CloudEvent:
    return activation_requested(
        agent_id=agent,
        agent_name=agent,
        kind=ActivationKind.INBOX,
        requested_at=datetime.now(UTC),
        notification_ids=[f"n-{agent}"],
    )


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys, server: MockHubServer
) -> Iterator[Served]:
    env = {
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": keys.prefix,
        "HUB_URL": server.url,
        "HUB_API_KEY": DEFAULT_API_KEY,
        "EVENTS_TOKEN": "metrics-token",
        "LOG_LEVEL": "info",
    }
    target = serve_target(monkeypatch, target="metrics", source=METRICS_SOURCE, env=env, token="metrics-token")
    yield target
    target.close()


async def test_with_no_runner_at_all_the_metrics_target_exports_each_streams_lag_and_pending(
    served: Served, redis: Redis, keys: StreamKeys
) -> None:
    settings = Settings()
    await ensure_groups(
        redis, transport_groups(keys, group=settings.streams.group, results_group=settings.streams.results_group)
    )
    publisher = Publisher(redis)
    normal, high = keys.activations(Priority.NORMAL), keys.activations(Priority.HIGH)
    for agent in ("a1", "a2", "a3"):
        await publisher.publish(normal, request(agent))
    await publisher.publish(high, request("a4"))
    # A runner that claimed one entry and died before acknowledging it: pending, no longer lag.
    await redis.xreadgroup(settings.streams.group, "gone-runner", {normal: ">"}, count=1)
    await redis.xadd(keys.dlq, {"x": "1"})

    async with served.client() as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    got = samples(response.text)

    def gauge(name: str, stream: str) -> float | None:
        return got.get((name, (("stream", stream),)))

    assert gauge("botburrow_stream_lag", normal) == 2
    assert gauge("botburrow_stream_pending", normal) == 1
    assert gauge("botburrow_stream_length", normal) == 3
    assert gauge("botburrow_stream_lag", high) == 1
    assert gauge("botburrow_stream_pending", high) == 0
    assert gauge("botburrow_stream_lag", keys.activations(Priority.LOW)) == 0
    assert gauge("botburrow_stream_lag", keys.results) == 0
    assert got[("botburrow_dlq_size", ())] == 1
    assert ("botburrow_scrape_failures_total", (("source", "streams"),)) not in got

    await publisher.publish(normal, request("a5"))
    async with served.client() as http:
        again = samples((await http.get("/metrics")).text)
    assert again[("botburrow_stream_lag", (("stream", normal),))] == 3, "read at scrape time, not cached"


async def test_agents_in_backoff_and_their_spend_are_read_from_redis_at_scrape(
    redis: Redis, keys: StreamKeys, registry: CollectorRegistry
) -> None:
    now = datetime.now(UTC)
    breaker = CircuitBreaker(redis, prefix=keys.prefix, failure_threshold=2)
    for _ in range(2):
        await breaker.record("flaky", ok=False)
    await breaker.record("wobbly", ok=False)  # one failure: still closed
    book = UsageBook(redis, keys=keys)
    for n, cost in enumerate((0.25, 0.5)):
        done = activation_completed(
            activation_id=f"act-{n}",
            agent_id="spender",
            attempt=1,
            outcome="replied",
            duration_ms=10,
            finished_at=now,
            usage=Usage(model="m", input_tokens=1, cost_usd=cost),
        )
        await book.record(f"ev-{n}", parse_data(done, ActivationCompleted), at=now)
    runtime = Runtime.over(Settings(), redis, keys, registry)
    scrape_gauges(runtime)
    got = samples((await asyncio.to_thread(generate_latest, registry)).decode())
    assert got[("botburrow_agent_in_backoff", (("agent", "flaky"),))] == 1
    assert got[("botburrow_agent_in_backoff", (("agent", "wobbly"),))] == 0
    assert got[("botburrow_agent_spend_usd", (("agent", "spender"), ("period", "day")))] == 0.75
    assert got[("botburrow_agent_spend_usd", (("agent", "spender"), ("period", "month")))] == 0.75


async def test_redis_down_leaves_the_gauges_out_counts_the_failure_and_the_scrape_answers(
    keys: StreamKeys, registry: CollectorRegistry
) -> None:
    dead = connect(f"redis://127.0.0.1:{free_port()}/0")
    try:
        scrape_gauges(Runtime.over(Settings(), dead, keys, registry), timeout_s=1.0)
        got = samples((await asyncio.to_thread(generate_latest, registry)).decode())
    finally:
        await dead.aclose()
    assert not [name for name, _ in got if name.startswith(("botburrow_stream_", "botburrow_agent_"))]
    for source in ("streams", "breakers", "spend"):
        assert got[("botburrow_scrape_failures_total", (("source", source),))] == 1

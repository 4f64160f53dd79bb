"""Dispatch benchmark: how fast one runner drains the activation streams, and how soon it starts.

Throughput: a runner process is started and left idle (blocked reading), paused with
SIGSTOP while ``events`` activations are published, then resumed; the drain runs the
full production path (batch claim, lease per agent, heartbeat task, settle script with
outcome publication) with the no-op handler. Rate and CPU are measured over the drain
alone: from the first outcome to the last (their entry ids carry Redis's clock), and
the runner's own user+system time.

Latency: a second runner with a probe handler; activations are published one at a time
at ``rate`` per second, each stamped just before XADD; the handler records how long
after that it started.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench._harness import Runner, fresh_prefix, percentile, redis_for_bench, warm_up
from shared import events as ev
from shared.settings import RunnerSettings
from shared.streams import Publisher, StreamKeys, connect, server_version

AGENTS = 1000


def _activation(i: int, at: datetime) -> Any:
    return ev.activation_requested(
        agent_id=f"agent-{i % AGENTS}",
        agent_name=f"agent-{i % AGENTS}",
        kind=ev.ActivationKind.INBOX,
        requested_at=at,
        notification_ids=[f"n{i}"],
    )


async def _throughput(redis_url: str, events: int, concurrency: int | None) -> dict[str, Any]:
    keys = StreamKeys(fresh_prefix("dispatch"))
    stream = keys.activations(ev.Priority.NORMAL)
    redis = connect(redis_url)
    extra = {"RUNNER_CONCURRENCY": str(concurrency)} if concurrency else {}
    runner = Runner(redis_url=redis_url, prefix=keys.prefix, handler="functions.runner.noop:handler", extra_env=extra)
    try:
        await warm_up(redis, keys)
        runner.signal(signal.SIGSTOP)
        now = datetime.now(UTC)
        publisher = Publisher(redis)
        for start in range(0, events, 2000):
            await publisher.publish_many(
                [(stream, _activation(i, now)) for i in range(start, min(events, start + 2000))]
            )
        cpu_before = runner.cpu_seconds()
        runner.signal(signal.SIGCONT)
        deadline = time.monotonic() + 300
        while await redis.xlen(keys.results) < events + 1:
            if time.monotonic() > deadline:
                raise TimeoutError("runner did not drain within 300 s")
            await asyncio.sleep(0.02)
        cpu = runner.cpu_seconds() - cpu_before
        [_, (first, _)] = await redis.xrange(keys.results, count=2)  # the first is the warm-up
        [(last, _)] = await redis.xrevrange(keys.results, count=1)
        drain_s = (int(last.split(b"-")[0]) - int(first.split(b"-")[0])) / 1000
        dlq = await redis.xlen(keys.dlq)
        pending = (await redis.xpending(stream, "runners"))["pending"]
        if dlq or pending:
            raise RuntimeError(f"drain incomplete: {dlq} dead-lettered, {pending} pending")
        return {
            "activations_per_s": round((events - 1) / drain_s) if drain_s > 0 else None,
            "cpu_ms_per_activation": round(cpu * 1000 / events, 4),
            "drain_s": round(drain_s, 3),
        }
    finally:
        runner.signal(signal.SIGCONT)
        exit_code = runner.stop()
        await _cleanup(redis, keys)
        await redis.aclose()
        if exit_code != 0:
            raise RuntimeError(f"runner exited {exit_code}")


async def _latency(redis_url: str, events: int, rate: float) -> dict[str, Any]:
    keys = StreamKeys(fresh_prefix("latency"))
    stream = keys.activations(ev.Priority.NORMAL)
    redis = connect(redis_url)
    samples_file = Path(tempfile.mkstemp(prefix="bench-latency-", suffix=".json")[1])
    runner = Runner(
        redis_url=redis_url,
        prefix=keys.prefix,
        handler="bench.probe:latency",
        extra_env={"BENCH_LATENCY_FILE": str(samples_file)},
    )
    try:
        await warm_up(redis, keys, count=50)
        publisher = Publisher(redis)
        prepared = [_activation(i, datetime.now(UTC)) for i in range(events)]
        t0 = time.perf_counter()
        for i, event in enumerate(prepared):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event["time"] = datetime.now(UTC).isoformat()
            await publisher.publish(stream, event)
        deadline = time.monotonic() + 60
        while await redis.xlen(keys.results) < events + 50:
            if time.monotonic() > deadline:
                raise TimeoutError("paced events were not all handled within 60 s")
            await asyncio.sleep(0.02)
    finally:
        exit_code = runner.stop()
        await _cleanup(redis, keys)
        await redis.aclose()
    samples = [s * 1000 for s in orjson.loads(samples_file.read_bytes())]
    samples_file.unlink()
    if exit_code != 0:
        raise RuntimeError(f"runner exited {exit_code}")
    return {
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
        "latency_events": len(samples),
        "latency_rate_per_s": rate,
    }


async def _cleanup(redis: Any, keys: StreamKeys) -> None:
    async for key in redis.scan_iter(match=f"{keys.prefix}:*", count=1000):
        await redis.delete(key)


async def run(
    *, events: int = 20_000, latency_events: int = 5_000, rate: float = 500.0, concurrency: int | None = None
) -> dict[str, Any]:
    with redis_for_bench() as url:
        redis = connect(url)
        version = ".".join(map(str, await server_version(redis)))
        await redis.aclose()
        throughput = await _throughput(url, events, concurrency)
        latency = await _latency(url, latency_events, rate)
    return {
        "events": events,
        **throughput,
        **latency,
        "concurrency": concurrency or RunnerSettings().concurrency,
        "redis_version": version,
    }

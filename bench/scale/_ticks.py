"""The poller's tick over one fleet size: CPU and wall time per tick, Redis bytes per idle agent."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench._harness import redis_for_bench, threads_cpu_s
from bench.e2e import Fleet, Ports, fleet, function_env, get_json, start_hub, start_target, wait_http
from shared import events as ev
from shared.streams import Redis, StreamKeys, connect

from ._fleet import AGENT_ID, NOTIFICATION_ID, TICK_WINDOW_S, mention, post, redis_cpu_s, write_fleet

# -- the poller's tick -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Tick:
    """One tick: the poller's CPU and the POST's wall time, the Hub's and Redis's CPU, what it published."""

    cpu_s: float
    wall_s: float
    answered_s: float
    published: int
    hub_cpu_s: float
    redis_cpu_s: float


@dataclass(frozen=True, kw_only=True)
class FleetSize:
    """The ticks over one fleet size, and Redis's memory after them."""

    agents: int
    with_work: int
    cold: Tick
    idle: Tick
    ticks: list[Tick]
    redis: dict[str, Any]

    @property
    def cpu_ms_per_agent_with_work(self) -> float:
        return round(statistics.median(t.cpu_s for t in self.ticks) * 1000 / self.with_work, 3)

    @property
    def wall_ms(self) -> float:
        return round(statistics.median(t.wall_s for t in self.ticks) * 1000, 1)

    @property
    def redis_bytes_per_idle_agent(self) -> float:
        return float(self.redis["bytes_per_idle_agent"])

    def figures(self) -> dict[str, Any]:
        def ms(values: Iterable[float]) -> list[float]:
            return [round(v * 1000, 1) for v in values]

        cpu_s = statistics.median(t.cpu_s for t in self.ticks)
        return {
            "agents_with_work": self.with_work,
            "cpu_ms": ms(t.cpu_s for t in self.ticks),
            "wall_ms": ms(t.wall_s for t in self.ticks),
            "answered_ms": ms(t.answered_s for t in self.ticks),
            "published": [t.published for t in self.ticks],
            "hub_cpu_ms": ms(t.hub_cpu_s for t in self.ticks),
            "redis_cpu_ms": ms(t.redis_cpu_s for t in self.ticks),
            "idle_tick_cpu_ms": round(self.idle.cpu_s * 1000, 1),
            "idle_tick_wall_ms": round(self.idle.wall_s * 1000, 1),
            "cpu_ms_per_idle_agent": round(self.idle.cpu_s * 1000 / self.agents, 4),
            "cpu_ms_per_agent_with_work_beyond_idle": round((cpu_s - self.idle.cpu_s) * 1000 / self.with_work, 3),
            "cold_tick_cpu_ms": round(self.cold.cpu_s * 1000, 1),
            "cold_tick_wall_ms": round(self.cold.wall_s * 1000, 1),
            "redis": self.redis,
        }


async def poller_at(count: int, *, work_share: float, ticks: int) -> FleetSize:
    with_work = max(1, round(count * work_share))
    with redis_for_bench() as redis_url, tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        names = write_fleet(work / "defs", count, prefix="scale")
        ports = Ports()
        env = function_env(redis_url, work / "defs", ports, kind="scale")
        logs = Path(os.environ.get("BENCH_LOGS", work))
        logs.mkdir(parents=True, exist_ok=True)
        redis = connect(redis_url)
        keys = StreamKeys(env["STREAM_PREFIX"])
        try:
            used_before = int((await redis.info("memory"))["used_memory"])
            with fleet(logs) as f:
                start_hub(f, env, ports, work / "defs", webhook=False)
                start_target(f, env, "poller", source="functions/poller/main.py", port=ports.poller)
                await wait_http(f"{ports.url(ports.hub)}/api/v1/health", timeout_s=600)
                await wait_http(f"{ports.url(ports.poller)}/healthz")
                timeout = aiohttp.ClientTimeout(total=1800)
                async with aiohttp.ClientSession(ports.url(ports.hub), timeout=timeout) as hub:
                    measured: list[Tick] = []
                    had_work: set[str] = set()
                    for n in range(ticks + 2):  # the cold tick, the idle one, then those measured
                        mentioned = [] if n == 1 else [names[(n * with_work + i) % count] for i in range(with_work)]
                        had_work.update(mentioned)
                        await post(hub, "/_mock/reset", {})
                        await mention(hub, mentioned)
                        tick = await _tick(f, redis, keys, ports.url(ports.poller))
                        if tick.published != len(mentioned):
                            raise RuntimeError(
                                f"a tick over {count} agents published {tick.published} activations "
                                f"for {len(mentioned)} agents with work: see BENCH_LOGS"
                            )
                        measured.append(tick)
                    ids = {a["name"]: a["id"] for a in (await get_json(hub, "/_mock/agents"))["agents"]}
            work_keys = had_work | {ids[name] for name in had_work}
            memory = await _redis_bytes(redis, keys, work_keys, idle=count - len(had_work), used_before=used_before)
        finally:
            await redis.aclose()
    cold, idle, *rest = measured
    return FleetSize(agents=count, with_work=with_work, cold=cold, idle=idle, ticks=rest, redis=memory)


async def _tick(f: Fleet, redis: Redis, keys: StreamKeys, poller_url: str) -> Tick:
    """One ping to the poller's target, answered once the tick is over."""
    before = sum([await redis.xlen(s) for s in keys.activation_streams])
    poller = f.pids("poller")
    cpu, poller_cpu, redis_cpu = f.cpu_s(), threads_cpu_s(poller), await redis_cpu_s(redis)
    headers, body = ev.to_http(ev.ping(at=datetime.now(UTC), window_s=TICK_WINDOW_S), binary=True)
    started, clock = time.time(), time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as http,
        http.post(poller_url, data=body, headers=headers) as answer,
    ):
        if answer.status >= 300:
            raise RuntimeError(f"the tick answered {answer.status}: {(await answer.text())[:300]}")
    answered_s = time.perf_counter() - clock
    after, poller_after, redis_after = f.cpu_s(), threads_cpu_s(poller), await redis_cpu_s(redis)
    published = sum([await redis.xlen(s) for s in keys.activation_streams]) - before
    last_ms = 0
    for stream in keys.activation_streams:
        newest: list[tuple[bytes, Any]] = await redis.xrevrange(stream, count=1)  # type: ignore[assignment]
        last_ms = max([last_ms, *(int(entry_id.split(b"-")[0]) for entry_id, _ in newest)])
    return Tick(
        cpu_s=poller_after - poller_cpu,
        # Until its last activation was on a stream (Redis's clock, in the entry id); a tick
        # that publishes nothing sits out its window: the POST's time.
        wall_s=last_ms / 1000 - started if published else answered_s,
        answered_s=answered_s,
        published=published,
        hub_cpu_s=after["hub"] - cpu["hub"],
        redis_cpu_s=redis_after - redis_cpu,
    )


async def _redis_bytes(
    redis: Redis, keys: StreamKeys, work: set[str], *, idle: int, used_before: int
) -> dict[str, Any]:
    """Bytes of every key under the run's prefix, work apart from the rest (see the module docstring)."""
    names: list[bytes] = [k async for k in redis.scan_iter(match=f"{keys.prefix}:*", count=1000)]
    by_kind: Counter[str] = Counter()
    count: Counter[str] = Counter()
    work_bytes = idle_bytes = 0
    for start in range(0, len(names), 1000):
        chunk = names[start : start + 1000]
        pipe = redis.pipeline(transaction=False)
        for name in chunk:
            pipe.memory_usage(name, samples=0)
        for name, size in zip(chunk, await pipe.execute(), strict=True):
            text = name.decode().removeprefix(keys.prefix)
            kind = NOTIFICATION_ID.sub("<ntf>", AGENT_ID.sub("<agent>", text))
            by_kind[kind] += int(size or 0)
            count[kind] += 1
            parts = text.split(":")
            if ":activations:" in text or any(p in work or NOTIFICATION_ID.fullmatch(p) for p in parts):
                work_bytes += int(size or 0)
            else:
                idle_bytes += int(size or 0)
    used = int((await redis.info("memory"))["used_memory"])
    return {
        "bytes_per_idle_agent": round(idle_bytes / max(1, idle), 1),
        "idle_bytes": idle_bytes,
        "work_bytes": work_bytes,
        "keys": len(names),
        "used_memory_growth": used - used_before,
        "by_key": {kind: {"keys": count[kind], "bytes": size} for kind, size in by_kind.most_common(10)},
    }

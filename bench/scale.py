"""Scale: the poller's tick over 1,000 to 100,000 agents, and one runner holding N conversations.

Poller, for each fleet size (``--agents``): that many agent definitions in a directory
(``AGENTS_DIR``: the poller loads them through ``shared.definitions.agent_store``, as in
production), the mock Hub registering the same directory (``--agents DIR``), a private
redis-server (or ``REDIS_URL`` and a fresh prefix) and the poller's functions-framework
target, as processes on loopback. Every agent is stale (never activated). Before each
tick a fresh slice of ``work_share`` (2 %) of them gets a person's mention, and the
previous slice's notifications are gone (``/_mock/reset``, as if their runners had
answered). The other agents are *idle*: stale, nothing unread, and
``behavior.discovery`` at its default, off, so the tick's discovery pass reads each of
their definitions and queues nothing. (With discovery on, a stale agent would be
discovery work, not idle: this measures what idle agents cost.) A tick is a ``ping``
with ``window_s`` 1 POSTed to the target (the discovery pass, then one long-poll round,
or as many as fit the second); its CPU is the target's processes' threads' (schedstat,
to the nanosecond), its wall time from the POST to its last activation on a stream
(``answered_ms``: to the POST's answer, at least the window). The first tick loads
every definition (``cold_tick_*``), an idle one follows (nobody has work: what the
fleet alone costs), then ``ticks`` with work are measured (medians), each of which must
publish one activation per agent with work.
Redis: after the last tick, ``MEMORY USAGE`` of every key under the run's prefix; keys
naming an agent that had work or one of its notifications, and the activation streams,
are work; everything else (the id to name map, the lease's fence...) is charged to the
idle agents.

Runner, for each ``--concurrency`` N: one ``python -m functions.runner`` with
``RUNNER_CONCURRENCY=N``, the mock Hub and the fake LLM, whose every answer takes
``answer_after_s`` (2 s, a ``--script`` step's ``delay_s``). ``waves`` times N agents
each get one mention; their activations (one each, naming the mention) are published at
the ideal rate, N / ``answer_after_s`` a second, so the runner holds N conversations
once the first answers are due. ``replies_per_s`` is the rate of the middle half of the
replies (the Hub's timestamps): the offered rate if the runner keeps up, its capacity
if a backlog builds. ``errors`` counts dead letters, outcomes other than ``replied``,
failed attempts in the runner's log and mentions left unanswered; ``most_in_flight`` is
the most activations that ran at once (from their durations), so a pool or semaphore
that caps concurrency shows. ``rss_mb`` is the runner's peak resident memory;
``memory`` has its RSS at rest (after one conversation) and the growth per conversation
held, and with ``trace_memory`` a second run per N (two waves, under tracemalloc: its
speed is not a figure) that compares snapshots of the runner at rest and holding N
conversations, by package.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from bench._harness import ROOT, redis_for_bench, threads_cpu_s
from bench.e2e import Fleet, Ports, fleet, function_env, start_fake_llm, start_hub, start_target, wait_http, write_agent
from shared import events as ev
from shared.streams import Publisher, Redis, StreamKeys, connect

AGENTS = (1_000, 10_000, 100_000)
CONCURRENCY = (64, 256, 1024)
ANSWER_AFTER_S = 2.0
WORK_SHARE = 0.02
TICKS = 5  # medians: a tick after the cold one can carry a full garbage collection of the definitions loaded
WAVES = 5
TICK_WINDOW_S = 1
PACE_EVERY_S = 0.05  # the runner's activations are published in batches this far apart
AT_ONCE = 32  # the bench's own requests to the mock Hub in flight
ANSWER = "Thanks for asking. Here is my considered answer, after some thought."
LIMITS = {
    "max_daily_posts": 1000,
    "max_daily_comments": 100_000,
    "max_responses_per_thread": 1000,
    "min_interval_seconds": 0,
}
_NOTIFICATION = re.compile(r"ntf-\d+")  # the mock Hub's notification ids
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # its agent ids
_PACKAGE = re.compile(r"(?:site-packages|dist-packages)/([^/]+)/")


def write_fleet(root: Path, count: int, *, prefix: str) -> list[str]:
    """``count`` native agents named ``<prefix>-<n>`` under ``root/agents``, discovery off (the default)."""
    names = [f"{prefix}-{i:06d}" for i in range(count)]
    for name in names:
        write_agent(root, name, prompt=f"You are {name}, a terse benchmark agent.\n", behavior={"limits": LIMITS})
    return names


async def run(
    *,
    agents: Sequence[int] = AGENTS,
    concurrency: Sequence[int] = CONCURRENCY,
    answer_after_s: float = ANSWER_AFTER_S,
    work_share: float = WORK_SHARE,
    ticks: int = TICKS,
    waves: int = WAVES,
    trace_memory: bool = False,
) -> dict[str, Any]:
    """Measure every fleet size in ``agents``, then every runner concurrency in ``concurrency``."""
    if not agents and not concurrency:
        raise ValueError("nothing to measure: give --agents or --concurrency")
    if ticks < 1 or waves < 1 or not 0 < work_share < 1 or answer_after_s <= 0:
        raise ValueError("ticks and waves must be at least 1, work_share within (0, 1), answer_after_s above 0")
    load_before = os.getloadavg()
    sizes = [await _poller_at(n, work_share=work_share, ticks=ticks) for n in agents]
    runners = []
    for n in concurrency:
        measured = await _runner_at(n, answer_after_s=answer_after_s, waves=waves)
        if trace_memory:
            traced = await _runner_at(n, answer_after_s=answer_after_s, waves=min(waves, 2), traced=True)
            measured.traced = traced.traced
        runners.append(measured)
    by_size = {str(s.agents): s for s in sizes}
    growth = None
    if sizes and sizes[0].cpu_ms_per_agent_with_work > 0:
        growth = round(sizes[-1].cpu_ms_per_agent_with_work / sizes[0].cpu_ms_per_agent_with_work, 2)
    return {
        "agents": list(agents),
        "tick_cpu_ms_per_agent_with_work": {k: s.cpu_ms_per_agent_with_work for k, s in by_size.items()},
        "tick_wall_ms": {k: s.wall_ms for k, s in by_size.items()},
        "tick_cost_growth": growth,
        "redis_bytes_per_idle_agent": sizes[-1].redis_bytes_per_idle_agent if sizes else None,
        "runner": [r.figures() for r in runners],
        "ticks": {k: s.figures() for k, s in by_size.items()},
        "work_share": work_share,
        "answer_after_s": answer_after_s,
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
    }


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


async def _poller_at(count: int, *, work_share: float, ticks: int) -> FleetSize:
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
                        await _post(hub, "/_mock/reset", {})
                        await _mention(hub, mentioned)
                        tick = await _tick(f, redis, keys, ports.url(ports.poller))
                        if tick.published != len(mentioned):
                            raise RuntimeError(
                                f"a tick over {count} agents published {tick.published} activations "
                                f"for {len(mentioned)} agents with work: see BENCH_LOGS"
                            )
                        measured.append(tick)
                    ids = {a["name"]: a["id"] for a in (await _get(hub, "/_mock/agents"))["agents"]}
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
    cpu, poller_cpu, redis_cpu = f.cpu_s(), threads_cpu_s(poller), await _redis_cpu_s(redis)
    headers, body = ev.to_http(ev.ping(at=datetime.now(UTC), window_s=TICK_WINDOW_S), binary=True)
    started, clock = time.time(), time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as http,
        http.post(poller_url, data=body, headers=headers) as answer,
    ):
        if answer.status >= 300:
            raise RuntimeError(f"the tick answered {answer.status}: {(await answer.text())[:300]}")
    answered_s = time.perf_counter() - clock
    after, poller_after, redis_after = f.cpu_s(), threads_cpu_s(poller), await _redis_cpu_s(redis)
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


async def _redis_cpu_s(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


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
            kind = _NOTIFICATION.sub("<ntf>", _UUID.sub("<agent>", text))
            by_kind[kind] += int(size or 0)
            count[kind] += 1
            parts = text.split(":")
            if ":activations:" in text or any(p in work or _NOTIFICATION.fullmatch(p) for p in parts):
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


# -- one runner, N conversations ----------------------------------------------------


@dataclass(kw_only=True)
class RunnerAt:
    """One runner holding ``concurrency`` conversations: what it answered, what it cost."""

    concurrency: int
    answer_after_s: float
    conversations: int
    replies: list[float]
    errors: int
    outcomes: dict[str, int]
    most_in_flight: int
    rss_mb: float
    idle_rss_mb: float
    end_rss_mb: float
    cpu_s: dict[str, float]
    traced: dict[str, Any] | None = None

    @property
    def replies_per_s(self) -> float | None:
        """The rate of the middle half of the replies."""
        at = sorted(self.replies)
        low, high = len(at) // 4, len(at) * 3 // 4
        if high <= low or at[high] <= at[low]:
            return None
        return round((high - low) / (at[high] - at[low]), 1)

    def figures(self) -> dict[str, Any]:
        target = self.concurrency / self.answer_after_s
        rate = self.replies_per_s
        memory: dict[str, Any] = {
            "idle_rss_mb": round(self.idle_rss_mb, 1),
            "after_rss_mb": round(self.end_rss_mb, 1),
            "kb_per_conversation_held": round((self.rss_mb - self.idle_rss_mb) * 1024 / self.concurrency, 1),
        }
        if self.traced is not None:
            memory["traced"] = self.traced
        return {
            "concurrency": self.concurrency,
            "replies_per_s": rate,
            "target_per_s": round(target, 1),
            "of_target": round(rate / target, 3) if rate is not None else None,
            "errors": self.errors,
            "rss_mb": round(self.rss_mb, 1),
            "conversations": self.conversations,
            "replies": len(self.replies),
            "most_in_flight": self.most_in_flight,
            "outcomes": self.outcomes,
            "cpu_ms_per_reply": {
                name: round(s * 1000 / max(1, len(self.replies)), 2) for name, s in self.cpu_s.items()
            },
            "memory": memory,
        }


def _slow_script(path: Path, answer_after_s: float) -> Path:
    """A fake LLM script file whose default answers every request after ``answer_after_s``."""
    script = {"scripts": [{"name": "slow", "steps": [{"text": ANSWER, "delay_s": answer_after_s}]}], "default": "slow"}
    path.write_text(yaml.safe_dump(script))
    return path


async def _runner_at(concurrency: int, *, answer_after_s: float, waves: int, traced: bool = False) -> RunnerAt:
    conversations = concurrency * waves
    with redis_for_bench() as redis_url, tempfile.TemporaryDirectory(prefix="bench-scale-runner-") as tmp:
        work = Path(tmp)
        warm, *names = write_fleet(work / "defs", conversations + 1, prefix="talk")
        ports = Ports()
        env = {
            **function_env(redis_url, work / "defs", ports, kind="scale-runner"),
            "RUNNER_CONCURRENCY": str(concurrency),
        }
        snapshots = work / "snapshot"
        if traced:
            env["BENCH_SNAPSHOT"] = str(snapshots)
        logs = Path(os.environ.get("BENCH_LOGS", work))
        logs.mkdir(parents=True, exist_ok=True)
        redis = connect(redis_url)
        keys = StreamKeys(env["STREAM_PREFIX"])
        try:
            with fleet(logs) as f:
                start_hub(f, env, ports, work / "defs", webhook=False)
                start_fake_llm(f, env, ports, script=_slow_script(work / "slow.yaml", answer_after_s))
                log = logs / "runner.log"
                log_offset = log.stat().st_size if log.exists() else 0  # BENCH_LOGS: earlier runs append there too
                runner = f.start("runner", [sys.executable, "-m", _runner_module(traced)], env)
                await wait_http(f"{ports.url(ports.hub)}/api/v1/health", timeout_s=120)
                await wait_http(f"{ports.url(ports.llm)}/healthz")
                async with aiohttp.ClientSession(ports.url(ports.hub), timeout=aiohttp.ClientTimeout(total=600)) as hub:
                    # One conversation before the clock: imports done, first connections made, the script loaded.
                    await _converse(hub, redis, keys, [warm], rate_per_s=None, timeout_s=120)
                    if traced:
                        await _snapshot(runner.pid, snapshots, 1)
                    idle_rss, cpu_before, redis_before = f.rss_mb()["runner"], f.cpu_s(), await _redis_cpu_s(redis)
                    peak = [idle_rss]
                    sampler = asyncio.create_task(_sample_rss(f, "runner", peak))
                    try:
                        rate = concurrency / answer_after_s
                        at_peak = (lambda: _snapshot(runner.pid, snapshots, 2)) if traced else None
                        timeout_s = 120 + 3 * waves * (answer_after_s + 1)
                        replies = await _converse(
                            hub, redis, keys, names, rate_per_s=rate, timeout_s=timeout_s, published=at_peak
                        )
                    finally:
                        sampler.cancel()
                    cpu_s = {name: s - cpu_before.get(name, 0.0) for name, s in f.cpu_s().items()}
                    cpu_s["redis"] = await _redis_cpu_s(redis) - redis_before
                    end_rss = f.rss_mb()["runner"]
                    results = (await _results(redis, keys))[1:]  # less the warm-up's
                    dead = int(await redis.xlen(keys.dlq))
            failed = _failures_logged(log, log_offset)
            where = _where_memory_went(snapshots, concurrency) if traced else None
        finally:
            await redis.aclose()
    outcomes = Counter(str(r.get("outcome")) for _, r in results)
    return RunnerAt(
        concurrency=concurrency,
        answer_after_s=answer_after_s,
        conversations=conversations,
        replies=list(replies.values()),
        errors=dead + failed + sum(n for o, n in outcomes.items() if o != "replied") + conversations - len(replies),
        outcomes=dict(outcomes),
        most_in_flight=_most_in_flight(results),
        rss_mb=max(peak),
        idle_rss_mb=idle_rss,
        end_rss_mb=end_rss,
        cpu_s=cpu_s,
        traced=where,
    )


def _runner_module(traced: bool) -> str:
    return "bench._traced_runner" if traced else "functions.runner"


async def _sample_rss(f: Fleet, name: str, peak: list[float]) -> None:
    while True:
        peak.append(f.rss_mb()[name])
        await asyncio.sleep(0.25)


async def _converse(
    hub: aiohttp.ClientSession,
    redis: Redis,
    keys: StreamKeys,
    names: list[str],
    *,
    rate_per_s: float | None,
    timeout_s: float,
    published: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, float]:
    """Mention each of ``names`` once, publish one activation each (``rate_per_s``; ``None``: at once).

    Awaits ``published()`` (if given) once the last is published. Returns each answered
    mention's first reply (epoch seconds, the Hub's clock) once every activation has its
    outcome, or at the deadline.
    """
    posts = await _mention(hub, names)
    state = await _get(hub, "/_mock/state")
    ids = {a["name"]: a["id"] for a in state["agents"]}
    notes = {n["post_id"]: n["id"] for n in state["notifications"] if n.get("post_id") in posts}
    stream = keys.activations(ev.Priority.HIGH)
    events = [
        ev.activation_requested(
            agent_id=ids[name],
            agent_name=name,
            kind=ev.ActivationKind.INBOX,
            requested_at=datetime.now(UTC),
            notification_ids=[notes[post]],
            priority=ev.Priority.HIGH,
            reason="inbox: mention",
        )
        for post, name in posts.items()
    ]
    before = await redis.xlen(keys.results)
    publisher, started = Publisher(redis), time.monotonic()
    batch = len(events) if rate_per_s is None else max(1, round(rate_per_s * PACE_EVERY_S))
    for n, first in enumerate(range(0, len(events), batch)):
        if rate_per_s is not None:
            await asyncio.sleep(max(0.0, started + n * batch / rate_per_s - time.monotonic()))
        await publisher.publish_many([(stream, e) for e in events[first : first + batch]])
    if published is not None:
        await published()
    deadline = time.monotonic() + timeout_s
    while await redis.xlen(keys.results) < before + len(events) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    replies: dict[str, float] = {}
    for comment in (await _get(hub, "/_mock/state"))["comments"]:
        if comment["post_id"] in posts and (comment.get("author") or {}).get("name") == posts[comment["post_id"]]:
            at = _epoch(str(comment["created_at"]))
            replies[comment["post_id"]] = min(at, replies.get(comment["post_id"], at))
    return replies


async def _results(redis: Redis, keys: StreamKeys) -> list[tuple[float, dict[str, Any]]]:
    """Each completed activation's finish (epoch seconds) and data, oldest first."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(keys.results)  # type: ignore[assignment]
    results = []
    for _, fields in entries:
        event = ev.from_fields(fields)
        results.append((_epoch(str(event["time"])), event.get_data() or {}))
    return results


def _most_in_flight(results: list[tuple[float, dict[str, Any]]]) -> int:
    """The most activations running at once, from each one's finish and duration.

    A duration is whole milliseconds: each start is taken a millisecond late, so a slot
    handed on within the rounding is not counted twice.
    """
    edges = sorted(edge for end, r in results for edge in ((end - r["duration_ms"] / 1000 + 0.001, 1), (end, -1)))
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def _failures_logged(log: Path, offset: int) -> int:
    """Attempts the runner's log says failed (each one retried or dead-lettered), from ``offset`` on."""
    with log.open("rb") as lines:
        lines.seek(offset)
        return sum(b'"handler.failed"' in line for line in lines)


async def _snapshot(pid: int, base: Path, n: int, timeout_s: float = 120) -> None:
    """Ask the traced runner for its ``n``-th snapshot and wait until it is written."""
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while not Path(f"{base}.{n}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the traced runner wrote no snapshot within {timeout_s}s")
        await asyncio.sleep(0.1)


def _where_memory_went(base: Path, concurrency: int, top: int = 10) -> dict[str, Any]:
    """Traced memory at rest and holding ``concurrency`` conversations, and the growth by package."""
    rest, held = (tracemalloc.Snapshot.load(f"{base}.{n}") for n in (1, 2))
    growth: Counter[str] = Counter()
    for stat in held.compare_to(rest, "filename"):
        growth[_package(stat.traceback[0].filename)] += stat.size_diff
    total = sum(growth.values())
    return {
        "at_rest_mb": round(sum(s.size for s in rest.statistics("filename")) / 2**20, 1),
        "holding_mb": round(sum(s.size for s in held.statistics("filename")) / 2**20, 1),
        "kb_per_conversation": round(total / 1024 / concurrency, 1),
        "growth_mb_by_package": {name: round(size / 2**20, 2) for name, size in growth.most_common(top)},
    }


def _package(filename: str) -> str:
    """The package a source file belongs to: ours by folder (``shared/llm``), a dependency by name."""
    found = _PACKAGE.search(filename)
    if found:
        return found.group(1).removesuffix(".py")
    path = Path(filename)
    if path.is_relative_to(ROOT):
        return "/".join(path.relative_to(ROOT).parts[:2]).removesuffix(".py")
    return "python" if filename.startswith(sys.base_prefix) else filename


# -- the mock Hub ------------------------------------------------------------------


async def _mention(hub: aiohttp.ClientSession, names: list[str]) -> dict[str, str]:
    """One person's mention of each of ``names``; post id -> the name mentioned."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(i: int, name: str) -> tuple[str, str]:
        async with gate:
            body = {"author": f"person-{i % 17}", "content": f"@{name} what do you make of question {i}?"}
            return str((await _post(hub, "/_mock/posts", body))["id"]), name

    return dict(await asyncio.gather(*(one(i, n) for i, n in enumerate(names))))


async def _post(hub: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with hub.post(path, json=body) as response:
        response.raise_for_status()
        answer: dict[str, Any] = await response.json(loads=orjson.loads)
        return answer


async def _get(hub: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    async with hub.get(path) as response:
        response.raise_for_status()
        answer: dict[str, Any] = await response.json(loads=orjson.loads)
        return answer


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

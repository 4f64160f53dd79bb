"""One runner process holding N conversations with a fake LLM that answers after a delay."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench._harness import ROOT, redis_for_bench
from bench.e2e import Fleet, Ports, fleet, function_env, get_json, start_fake_llm, start_hub, wait_http
from shared import events as ev
from shared.streams import Publisher, Redis, StreamKeys, connect

from ._fleet import ANSWER, PACE_EVERY_S, PACKAGE, epoch, mention, redis_cpu_s, write_fleet

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


async def runner_at(concurrency: int, *, answer_after_s: float, waves: int, traced: bool = False) -> RunnerAt:
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
                    idle_rss, cpu_before, redis_before = f.rss_mb()["runner"], f.cpu_s(), await redis_cpu_s(redis)
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
                    cpu_s["redis"] = await redis_cpu_s(redis) - redis_before
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
    posts = await mention(hub, names)
    state = await get_json(hub, "/_mock/state")
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
    for comment in (await get_json(hub, "/_mock/state"))["comments"]:
        if comment["post_id"] in posts and (comment.get("author") or {}).get("name") == posts[comment["post_id"]]:
            at = epoch(str(comment["created_at"]))
            replies[comment["post_id"]] = min(at, replies.get(comment["post_id"], at))
    return replies


async def _results(redis: Redis, keys: StreamKeys) -> list[tuple[float, dict[str, Any]]]:
    """Each completed activation's finish (epoch seconds) and data, oldest first."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(keys.results)  # type: ignore[assignment]
    results = []
    for _, fields in entries:
        event = ev.from_fields(fields)
        results.append((epoch(str(event["time"])), event.get_data() or {}))
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
    found = PACKAGE.search(filename)
    if found:
        return found.group(1).removesuffix(".py")
    path = Path(filename)
    if path.is_relative_to(ROOT):
        return "/".join(path.relative_to(ROOT).parts[:2]).removesuffix(".py")
    return "python" if filename.startswith(sys.base_prefix) else filename

"""Recovery benchmark: SIGKILL runners at random while events flow; nothing lost, nothing twice.

Two runner processes run ``bench.probe:effects``: each event works 0.2-2 s, then lands
one effect through the done-marker ledger (the mechanism the Hub writes use). Events
are published at a steady rate over the run while, every 1-4 s, one runner is killed
with SIGKILL and restarted at once. The effects stream is the independent tally: one
entry per effect that actually landed.

- ``lost``: events with no effect once everything has drained;
- ``duplicate_effects``: effects beyond the first, over all events;
- ``max_recovery_s``: the longest time from a kill to an event that was running in the
  killed runner starting again elsewhere (bounded by the lease ttl plus one reclaim tick).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from bench._harness import Runner, fresh_prefix, redis_for_bench, warm_up
from bench.probe import effects_key, starts_key
from shared import events as ev
from shared.streams import Publisher, Redis, StreamKeys, connect, server_version

HANDLER = "bench.probe:effects"


class Fleet:
    """``size`` runner processes, each restarted as soon as it is killed."""

    def __init__(self, size: int, **runner_kwargs: Any) -> None:
        self._kwargs = runner_kwargs
        self.runners = [Runner(**runner_kwargs) for _ in range(size)]
        self.kills: list[tuple[float, int]] = []  # (time, pid)

    def kill_one(self, rng: random.Random) -> None:
        slot = rng.randrange(len(self.runners))
        victim = self.runners[slot]
        at = time.time()
        victim.kill()
        self.kills.append((at, victim.pid))
        self.runners[slot] = Runner(**self._kwargs)

    def stop(self) -> list[int]:
        return [r.stop() for r in self.runners]


async def _publish_over(redis: Redis, keys: StreamKeys, events: list[Any], seconds: float) -> None:
    publisher = Publisher(redis)
    stream = keys.activations(ev.Priority.NORMAL)
    t0 = time.perf_counter()
    for i, event in enumerate(events):
        delay = t0 + i * seconds / len(events) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await publisher.publish(stream, event)


async def _tally(redis: Redis, keys: StreamKeys) -> Counter[str]:
    return Counter(f[b"event"].decode() for _, f in await redis.xrange(effects_key(keys.prefix)))


def _recovery_times(
    kills: list[tuple[float, int]], starts: list[tuple[str, int, float]], landed: dict[str, float]
) -> list[float]:
    """For each kill, how long each event running in the victim took to start elsewhere."""
    by_event: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for event_id, pid, at in starts:
        by_event[event_id].append((at, pid))
    times = []
    for killed_at, victim in kills:
        for event_id, runs in by_event.items():
            before = [(at, pid) for at, pid in runs if at < killed_at]
            if not before or max(before)[1] != victim:
                continue  # not last started in the victim
            if landed.get(event_id, float("inf")) < killed_at:
                continue  # it had finished before the kill
            after = [at for at, _ in runs if at > killed_at]
            if after:
                times.append(min(after) - killed_at)
    return times


async def run(
    *,
    events: int = 240,
    kills: int = 12,
    runners: int = 2,
    agents: int = 40,
    publish_s: float = 36.0,
    kill_every_s: tuple[float, float] = (1.0, 4.0),
    work_s: tuple[float, float] = (0.2, 2.0),
    extra_env: dict[str, str] | None = None,
    drain_timeout_s: float = 180.0,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run the benchmark; ``extra_env`` lets tests shorten the lease ttl for speed."""
    rng = random.Random(seed)
    with redis_for_bench() as url:
        redis = connect(url)
        keys = StreamKeys(fresh_prefix("recovery"))
        env = {"BENCH_WORK_MIN_S": str(work_s[0]), "BENCH_WORK_MAX_S": str(work_s[1]), **(extra_env or {})}
        fleet = Fleet(runners, redis_url=url, prefix=keys.prefix, handler=HANDLER, extra_env=env)
        try:
            await warm_up(redis, keys, count=runners)
            now = datetime.now(UTC)
            batch = [
                ev.activation_requested(
                    agent_id=f"agent-{rng.randrange(agents)}",
                    agent_name="bench",
                    kind=ev.ActivationKind.INBOX,
                    requested_at=now,
                    notification_ids=[f"n{i}"],
                )
                for i in range(events)
            ]
            publishing = asyncio.create_task(_publish_over(redis, keys, batch, publish_s))
            await asyncio.sleep(1.0)
            while len(fleet.kills) < kills or not publishing.done():
                if len(fleet.kills) < kills:
                    fleet.kill_one(rng)
                await asyncio.sleep(rng.uniform(*kill_every_s))
            await publishing

            wanted = {e["id"] for e in batch}
            deadline = time.monotonic() + drain_timeout_s
            while time.monotonic() < deadline:
                tally = await _tally(redis, keys)
                if wanted <= set(tally) and await redis.xlen(keys.dlq) == 0 and not await _busy(redis, keys):
                    break
                if await redis.xlen(keys.dlq):
                    break
                await asyncio.sleep(0.2)
            exit_codes = fleet.stop()
            tally = await _tally(redis, keys)
            starts = [
                (f[b"event"].decode(), int(f[b"pid"]), float(f[b"t"]))
                for _, f in await redis.xrange(starts_key(keys.prefix))
            ]
            landed = {f[b"event"].decode(): float(f[b"t"]) for _, f in await redis.xrange(effects_key(keys.prefix))}
            recoveries = _recovery_times(fleet.kills, starts, landed)
            version = ".".join(map(str, await server_version(redis)))
            deadlettered = await redis.xlen(keys.dlq)
        finally:
            for runner in fleet.runners:
                runner.kill()
            async for key in redis.scan_iter(match=f"{keys.prefix}:*", count=1000):
                await redis.delete(key)
            await redis.aclose()
    return {
        "events": events,
        "kills": len(fleet.kills),
        "lost": sum(1 for e in wanted if tally[e] == 0),
        "duplicate_effects": sum(max(0, tally[e] - 1) for e in wanted),
        "max_recovery_s": round(max(recoveries), 2) if recoveries else None,
        "interrupted_events": len(recoveries),
        "deadlettered": deadlettered,
        "runner_exit_codes": exit_codes,
        "redis_version": version,
    }


async def _busy(redis: Redis, keys: StreamKeys) -> bool:
    for stream in keys.activation_streams:
        info = await redis.xpending(stream, "runners")
        if info["pending"] or await redis.zcard(keys.delayed(stream)):
            return True
    return False

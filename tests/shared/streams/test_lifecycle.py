"""Stopping, losing a lease, and Redis dropping connections, with a real redis-server."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from cloudevents.http import CloudEvent

from shared import events as ev
from shared.errors import LeaseLost
from shared.streams import EffectLedger, Redis, StreamKeys, StreamMetrics, connect, current_delivery
from tests.shared.streams.conftest import Pumps, activation, drained, publish
from tests.support import eventually, fast_settings


async def test_stop_lets_running_handlers_finish_and_hands_back_the_rest(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    started: list[str] = []
    finished: list[str] = []

    async def handle(event: CloudEvent) -> None:
        started.append(event["id"])
        await asyncio.sleep(0.5)
        finished.append(event["id"])

    pump = await pumps.start(handle, concurrency=4, grace_period_s=5)
    # Two agents with three events each: one of each runs, two of each wait behind it.
    events = [activation(a, n) for n in range(3) for a in ("a", "b")]
    await publish(redis, keys, events)
    await eventually(lambda: len(started) == 2)
    await eventually(lambda: pump.held == 4)

    await pumps.stop(pump)
    assert sorted(finished) == sorted(started), "in-flight handlers finished within the grace period"
    assert len(started) == 2
    stream = keys.activations(ev.Priority.NORMAL)
    back = await redis.xreadgroup("runners", "checker", {stream: ">"}, count=10)
    fields = [f for _, f in back[0][1]]
    handed_back = [f for f in fields if b"deliveries" in f]
    assert len(fields) == 4, "2 never claimed (4 slots: 2 running, 2 waiting) + the 2 waiting, handed back"
    assert len(handed_back) == 2
    assert {f[b"deliveries"] for f in handed_back} == {b"0"}, "a handback that never ran is not counted"


async def test_handlers_still_running_at_the_end_of_grace_are_cancelled_and_handed_back(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    async def stuck(event: CloudEvent) -> None:
        await asyncio.sleep(60)

    pump = await pumps.start(stuck, concurrency=2, grace_period_s=0.3)
    await publish(redis, keys, [activation("a"), activation("b")])
    await eventually(lambda: pump.held == 2)
    await pumps.stop(pump)

    finished: Counter[int] = Counter()

    async def quick(event: CloudEvent) -> None:
        finished[current_delivery().deliveries] += 1  # type: ignore[union-attr]

    await pumps.start(quick)
    await eventually(lambda: sum(finished.values()) == 2)
    assert finished == {2: 2}, "the cancelled run counts as a delivery"
    await eventually(lambda: drained(redis, keys))


async def test_a_lease_lost_mid_run_cancels_the_handler_and_fences_its_effects(
    redis: Redis, keys: StreamKeys, pumps: Pumps, metrics: StreamMetrics
) -> None:
    ledger = EffectLedger(redis, keys)
    tally = f"{keys.prefix}:tally"
    runs: list[int] = []
    fenced: list[str] = []
    steal = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        delivery = current_delivery()
        assert delivery is not None and delivery.fencing_token is not None
        runs.append(delivery.fencing_token)
        if len(runs) == 1:
            steal.set()
            try:
                await asyncio.sleep(5)
            finally:  # still trying to land its effect as it is cancelled
                try:
                    await ledger.once(event["id"], "reply", lambda p: p.incr(tally), delivery=delivery)
                except LeaseLost as exc:
                    fenced.append(str(exc))
            return
        await ledger.once(event["id"], "reply", lambda p: p.incr(tally), delivery=delivery)

    await pumps.start(handle, settings=fast_settings(keys, lease_ttl_ms=600, heartbeat_every_s=0.1))
    await publish(redis, keys, [activation("agent-s")])
    await steal.wait()
    # Another runner takes the agent's lease (as after a stall longer than its ttl),
    # holds it briefly, then lets it expire.
    await redis.set(keys.lease("agent-s"), "999999", px=300)

    await eventually(lambda: len(runs) == 2, timeout_s=10)
    await eventually(lambda: drained(redis, keys))
    assert len(fenced) == 1 and "no longer held" in fenced[0]
    assert await redis.get(tally) == b"1", "only the run holding the lease landed its effect"
    assert runs[1] > runs[0], "the second run holds a newer fencing token"
    assert metrics.registry.get_sample_value("botburrow_leases_total", {"result": "lost"}) == 1


async def test_pump_rides_out_redis_dropping_every_connection(
    redis: Redis, redis_url: str, keys: StreamKeys, pumps: Pumps
) -> None:
    ledger = EffectLedger(redis, keys)
    tally = f"{keys.prefix}:tally"
    handled: Counter[str] = Counter()

    async def handle(event: CloudEvent) -> None:
        await asyncio.sleep(0.002)
        await ledger.once(event["id"], "reply", lambda p: p.hincrby(tally, event["id"], 1))
        handled[event["id"]] += 1

    for _ in range(2):
        await pumps.start(handle, concurrency=8)
    events = [activation(f"agent-{i % 13}") for i in range(400)]
    publishing = asyncio.create_task(publish(redis, keys, events))
    for _ in range(8):
        await asyncio.sleep(0.1)
        killer = connect(redis_url)  # a connection of its own: the others are all about to go
        await killer.client_kill_filter(_type="normal", skipme=True)
        await killer.aclose()
    await publishing

    await eventually(lambda: drained(redis, keys), timeout_s=30)
    fresh = connect(redis_url)
    effects = {k.decode(): int(v) for k, v in (await fresh.hgetall(tally)).items()}
    await fresh.aclose()
    assert sorted(effects) == sorted(e["id"] for e in events), "nothing lost"
    assert set(effects.values()) == {1}, "no effect landed twice"
    assert all(not task.done() for _, task in pumps.running), "no pump crashed"


async def test_stopping_at_random_moments_under_load_strands_nothing(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    """Stops land mid-claim, mid-admission and mid-settle; each is quick and leaves nothing held."""
    handled: Counter[str] = Counter()

    async def handle(event: CloudEvent) -> None:
        await asyncio.sleep(random.uniform(0, 0.01))
        handled[event["id"]] += 1

    events = [activation(f"agent-{i % 17}") for i in range(600)]
    stream = keys.activations(ev.Priority.NORMAL)

    async def feed() -> None:
        for i in range(0, len(events), 20):
            await publish(redis, keys, events[i : i + 20])
            await redis.xadd(stream, {b"junk": str(i).encode()})
            await asyncio.sleep(0.01)

    feeding = asyncio.create_task(feed())
    for _ in range(12):
        pump = await pumps.start(handle, concurrency=8)
        await asyncio.sleep(random.uniform(0.02, 0.15))
        stopped_at = asyncio.get_running_loop().time()
        await pumps.stop(pump)
        assert asyncio.get_running_loop().time() - stopped_at < 3, "no wait for a flush that cannot finish"
        assert pump.held == 0, "every claimed entry was started and settled, or handed back"
    await feeding

    await pumps.start(handle, concurrency=8)
    await eventually(lambda: drained(redis, keys), timeout_s=30)
    assert set(handled) == {e["id"] for e in events}, "nothing lost"
    assert await redis.xlen(keys.dlq) == 30, "every junk entry dead-lettered, none lost or crashed on"


async def test_a_stream_deleted_under_a_running_pump_gets_its_group_back(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    seen: list[str] = []

    async def handle(event: CloudEvent) -> None:
        seen.append(event["id"])

    await pumps.start(handle)
    stream = keys.activations(ev.Priority.NORMAL)
    await redis.delete(stream)  # an operator's mistake: the group goes with it
    await eventually(lambda: _has_group(redis, stream), timeout_s=10)
    event = activation("agent-back")
    await publish(redis, keys, [event])
    await eventually(lambda: seen == [event["id"]], timeout_s=10)


async def _has_group(redis: Redis, stream: str) -> bool:
    try:
        return any(g["name"] == b"runners" for g in await redis.xinfo_groups(stream))
    except Exception:
        return False

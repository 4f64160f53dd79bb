"""The transport's parts against a real redis-server: groups, trimming, leases, effects."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from shared import events as ev
from shared.errors import ConfigurationError, LeaseLost
from shared.streams import (
    Delivery,
    EffectLedger,
    Publisher,
    Redis,
    Scripts,
    StreamKeys,
    connect,
    ensure_groups,
    require_version,
    stream_status,
    transport_groups,
    trim_acknowledged,
)
from shared.streams._claim import WeightedTurns
from shared.streams._leases import Holding, Leases
from shared.streams._tasks import cancel_and_wait
from tests.shared.streams.conftest import activation


async def test_groups_exist_before_anything_is_published_so_lag_counts_from_zero(
    redis: Redis, keys: StreamKeys
) -> None:
    groups = transport_groups(keys, group="runners", results_group="metrics")
    await ensure_groups(redis, groups)
    await ensure_groups(redis, groups)  # BUSYGROUP is not an error
    stream = keys.activations(ev.Priority.HIGH)
    assert (await stream_status(redis, stream, "runners")).lag == 0
    await Publisher(redis).publish_many([(stream, activation(f"a{i}")) for i in range(7)])
    status = await stream_status(redis, stream, "runners")
    assert (status.length, status.lag, status.pending) == (7, 7, 0)
    assert (await stream_status(redis, keys.results, "metrics")).length == 0


async def test_publish_many_keeps_order_and_returns_ids(redis: Redis, keys: StreamKeys) -> None:
    stream = keys.activations(ev.Priority.NORMAL)
    events = [activation("a", n) for n in range(50)]
    ids = await Publisher(redis).publish_many([(stream, e) for e in events])
    stored = await redis.xrange(stream)
    assert [i.decode() for i, _ in stored] == ids
    assert [ev.from_fields(f)["id"] for _, f in stored] == [e["id"] for e in events]


async def test_trimming_removes_only_history_every_group_acknowledged(redis: Redis, keys: StreamKeys) -> None:
    stream = keys.activations(ev.Priority.NORMAL)
    await ensure_groups(redis, {stream: "runners"})
    ids = await Publisher(redis).publish_many([(stream, activation("a", n)) for n in range(100)])
    await redis.xreadgroup("runners", "c1", {stream: ">"}, count=60)
    await redis.xack(stream, "runners", *ids[:30], *ids[35:60])  # 30..34 stay pending, 60.. undelivered

    assert await trim_acknowledged(redis, stream) == 30
    remaining = [i.decode() for i, _ in await redis.xrange(stream)]
    assert remaining == ids[30:]
    status = await stream_status(redis, stream, "runners")
    assert (status.pending, status.lag) == (5, 40), "lag stays valid after trimming"

    await redis.xack(stream, "runners", *ids[30:35])
    assert await trim_acknowledged(redis, stream) == 30
    assert [i.decode() for i, _ in await redis.xrange(stream)] == ids[60:]


async def test_a_stream_without_groups_is_never_trimmed(redis: Redis, keys: StreamKeys) -> None:
    await Publisher(redis).publish(keys.results, activation("a"))
    assert await trim_acknowledged(redis, keys.results) == 0
    assert await redis.xlen(keys.results) == 1


async def test_leases_hand_out_growing_fencing_tokens_and_refuse_a_busy_agent(redis: Redis, keys: StreamKeys) -> None:
    scripts = Scripts(redis)
    await scripts.load()
    mine = Leases(redis, scripts, keys, ttl_ms=1000, group="runners", consumer="c1")
    theirs = Leases(redis, scripts, keys, ttl_ms=1000, group="runners", consumer="c2")
    first = await mine.acquire(["a", "b"], {})
    assert 0 < first["a"] < first["b"]
    assert await redis.get(keys.lease("a")) == f"{first['a']}:c1".encode()
    assert await theirs.acquire(["a", "c"], {}) == {"a": 0, "c": first["b"] + 1}
    # A holder may take over its own lease (its release may be in flight) ...
    over = await mine.acquire(["a"], {"a": "c1"})
    assert over["a"] > first["b"]
    # ... and a reclaimer the lease of the consumer it reclaims from, nobody else's.
    assert await theirs.acquire(["a"], {"a": "c9"}) == {"a": 0}
    taken = await theirs.acquire(["a"], {"a": "c1"})
    assert taken["a"] > over["a"]
    assert await redis.get(keys.lease("a")) == f"{taken['a']}:c2".encode()


async def test_heartbeat_extends_the_lease_and_reports_it_lost(redis: Redis, keys: StreamKeys) -> None:
    stream = keys.activations(ev.Priority.NORMAL)
    await ensure_groups(redis, {stream: "runners"})
    [entry_id] = await Publisher(redis).publish_many([(stream, activation("a"))])
    await redis.xreadgroup("runners", "c1", {stream: ">"}, count=1)
    scripts = Scripts(redis)
    await scripts.load()
    leases = Leases(redis, scripts, keys, ttl_ms=300, group="runners", consumer="c1")
    token = (await leases.acquire(["a"], {}))["a"]
    holding = Holding(stream, (entry_id,), keys.lease("a"), f"{token}:c1")

    for _ in range(4):  # well past the 300 ms ttl, kept alive
        await asyncio.sleep(0.15)
        [result] = await leases.heartbeat([holding])
        assert not result.lease_lost and result.lost_ids == ()
    [pending] = await redis.xpending_range(stream, "runners", "-", "+", 1)
    assert pending["time_since_delivered"] < 200 and pending["times_delivered"] == 1

    await redis.set(keys.lease("a"), "999")  # someone else holds it now
    [result] = await leases.heartbeat([holding])
    assert result.lease_lost


async def test_heartbeat_never_steals_back_an_entry_another_consumer_took(redis: Redis, keys: StreamKeys) -> None:
    stream = keys.activations(ev.Priority.NORMAL)
    await ensure_groups(redis, {stream: "runners"})
    [entry_id] = await Publisher(redis).publish_many([(stream, activation("a"))])
    await redis.xreadgroup("runners", "c1", {stream: ">"}, count=1)
    await redis.xclaim(stream, "runners", "c2", 0, [entry_id])
    scripts = Scripts(redis)
    await scripts.load()
    leases = Leases(redis, scripts, keys, ttl_ms=300, group="runners", consumer="c1")
    [result] = await leases.heartbeat([Holding(stream, (entry_id,))])
    assert result.lost_ids == (entry_id,)
    [pending] = await redis.xpending_range(stream, "runners", "-", "+", 1)
    assert pending["consumer"] == b"c2"


async def test_an_effect_lands_once_however_often_it_is_tried(redis: Redis, keys: StreamKeys) -> None:
    ledger = EffectLedger(redis, keys)
    tally = f"{keys.prefix}:tally"
    results = await asyncio.gather(*(ledger.once("ev1", "reply", lambda p: p.incr(tally)) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    assert await redis.get(tally) == b"1"
    assert await ledger.is_done("ev1", "reply")
    assert not await ledger.is_done("ev1", "mark-read")


async def test_which_effects_landed_is_one_read_for_them_all(redis: Redis, keys: StreamKeys) -> None:
    ledger = EffectLedger(redis, keys)
    await ledger.mark_done("ev1", "reply:n1", "c-1")
    await ledger.mark_done("ev1", "reply:n3", "no_response")
    await ledger.mark_done("ev2", "reply:n2")
    assert await ledger.done_among("ev1", ["reply:n1", "reply:n2", "reply:n3"]) == {"reply:n1", "reply:n3"}
    assert await ledger.done_among("ev1", []) == set()


async def test_an_effect_of_a_runner_that_lost_its_lease_does_not_land(redis: Redis, keys: StreamKeys) -> None:
    ledger = EffectLedger(redis, keys)
    await redis.set(keys.lease("a"), "8:c")
    stale = Delivery(stream="s", entry_id="1-0", deliveries=1, consumer="c", lease_key=keys.lease("a"), fencing_token=7)
    with pytest.raises(LeaseLost):
        await ledger.once("ev1", "reply", lambda p: p.incr(f"{keys.prefix}:tally"), delivery=stale)
    assert await redis.get(f"{keys.prefix}:tally") is None
    current = Delivery(
        stream="s", entry_id="1-0", deliveries=1, consumer="c", lease_key=keys.lease("a"), fencing_token=8
    )
    assert await ledger.once("ev1", "reply", lambda p: p.incr(f"{keys.prefix}:tally"), delivery=current)


async def test_scripts_reload_after_the_server_forgets_them(redis: Redis, keys: StreamKeys) -> None:
    scripts = Scripts(redis)
    await scripts.load()
    await redis.script_flush()
    leases = Leases(redis, scripts, keys, ttl_ms=1000, group="runners", consumer="c1")
    assert (await leases.acquire(["a"], {}))["a"] > 0


async def test_more_commands_at_once_than_connections_wait_for_one_instead_of_failing(
    redis_url: str, keys: StreamKeys
) -> None:
    """redis-py's own pool refuses a command past its cap ("Too many connections"): a runner
    holding many activations failed some of them with nothing wrong but a busy moment."""
    client = connect(redis_url, max_connections=4)
    try:
        key = f"{keys.prefix}:crowd"
        # Each holds a connection for 50 ms, so 4 of them serve 40 in about half a second.
        held = await asyncio.gather(*(client.blpop([f"{key}:{n}"], timeout=0.05) for n in range(40)))
        assert held == [None] * 40
        assert len(client.connection_pool._in_use_connections) == 0
        assert client.connection_pool.max_connections == 4
    finally:
        await client.aclose()


async def test_redis_older_than_seven_is_refused(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await require_version(redis)).startswith(("7.", "8."))

    async def old_info(section: str) -> dict[str, str]:
        return {"redis_version": "6.2.14"}

    monkeypatch.setattr(redis, "info", old_info)
    with pytest.raises(ConfigurationError, match=r"6\.2\.14 is too old"):
        await require_version(redis)


def test_weighted_turns_share_slots_by_weight_even_one_at_a_time() -> None:
    turns = WeightedTurns({"high": 6, "normal": 3, "low": 1})
    totals = dict.fromkeys(("high", "normal", "low"), 0)
    for _ in range(100):
        for stream, n in turns.allot(1).items():
            totals[stream] += n
    assert totals == {"high": 60, "normal": 30, "low": 10}
    assert turns.allot(4, among=["low"]) == {"low": 4}
    assert WeightedTurns({"high": 1, "low": 0}).allot(3) == {"high": 3}


async def test_cancel_and_wait_outlasts_a_task_that_swallows_one_cancel() -> None:
    """What redis-py's wait_for does on Python 3.11 when a cancel lands as a send completes."""
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait([task], timeout_s=2)
    assert task.cancelled() and swallowed == 2
    with contextlib.suppress(asyncio.CancelledError):
        await task

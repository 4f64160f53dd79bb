"""The pump against a real redis-server: ordering, serialisation, priorities, failures."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime

import orjson
from cloudevents.http import CloudEvent

from shared import events as ev
from shared.errors import PermanentError
from shared.streams import (
    DeadLetters,
    Redis,
    RetryLater,
    Scripts,
    StreamKeys,
    StreamMetrics,
    current_delivery,
)
from tests.shared.streams.conftest import Pumps, activation, drained, publish
from tests.support import eventually, fast_settings
from tests.support.handlers import recorder


async def test_one_agents_events_run_in_stream_order(redis: Redis, keys: StreamKeys, pumps: Pumps) -> None:
    order: dict[str, list[int]] = defaultdict(list)

    async def handle(event: CloudEvent) -> None:
        data = event.get_data()
        order[data["agent_id"]].append(int(data["reason"]))
        await asyncio.sleep(random.uniform(0, 0.003))

    await pumps.start(handle, concurrency=16)
    agents = [f"agent-{i}" for i in range(8)]
    await publish(redis, keys, [activation(a, n) for n in range(25) for a in agents])

    await eventually(lambda: sum(map(len, order.values())) == 200)
    assert all(order[a] == list(range(25)) for a in agents), dict(order)
    await eventually(lambda: drained(redis, keys))


async def test_sixteen_way_concurrency_never_runs_one_agent_twice_at_once(
    redis: Redis, keys: StreamKeys, pumps: Pumps, metrics: StreamMetrics
) -> None:
    """4 pumps x 4 slots compete for 5 agents; Redis counts how many run each agent at once."""
    overlaps: list[str] = []
    handled: Counter[str] = Counter()

    async def handle(event: CloudEvent) -> None:
        agent = event["subject"]
        if await redis.incr(f"{keys.prefix}:active:{agent}") > 1:
            overlaps.append(agent)
        await asyncio.sleep(random.uniform(0.001, 0.004))
        await redis.decr(f"{keys.prefix}:active:{agent}")
        handled[event["id"]] += 1

    for _ in range(4):
        await pumps.start(handle, concurrency=4)
    events = [activation(f"agent-{i % 5}") for i in range(150)]
    await publish(redis, keys, events)

    await eventually(lambda: len(handled) == 150, timeout_s=30)
    await eventually(lambda: drained(redis, keys))
    assert overlaps == []
    assert set(handled.values()) == {1}, "every event handled exactly once"
    busy = metrics.registry.get_sample_value("botburrow_leases_total", {"result": "busy"})
    assert busy and busy > 0, "the pumps really did contend for agents"


async def test_low_priority_progresses_under_a_high_priority_flood(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    finished: list[str] = []

    async def handle(event: CloudEvent) -> None:
        await asyncio.sleep(0.001)
        finished.append(event.get_data()["priority"])

    flood = [activation(f"h{i}", priority=ev.Priority.HIGH) for i in range(300)]
    trickle = [activation(f"l{i}", priority=ev.Priority.LOW) for i in range(10)]
    await publish(redis, keys, flood + trickle)  # low published last, behind the whole flood
    await pumps.start(handle, concurrency=2)

    await eventually(lambda: len(finished) == 310, timeout_s=30)
    last_low = max(i for i, p in enumerate(finished) if p == "low")
    # Weights 6:3:1 give low about a seventh of the slots while high has work.
    assert last_low < 150, f"last low-priority event finished at position {last_low} of 310"
    assert finished[:20].count("high") >= 12, "high priority still gets most of the slots"


async def test_entry_of_a_dead_consumer_is_reclaimed_after_the_lease_ttl(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    settings = fast_settings(keys, lease_ttl_ms=800)
    event = activation("agent-x")
    await publish(redis, keys, [event])
    stream = keys.activations(ev.Priority.NORMAL)
    # A runner claims the entry and takes the agent's lease, then dies: no heartbeat.
    # Its lease would outlive the test: only a takeover by the reclaimer can free it.
    await redis.xgroup_create(stream, "runners", id="0")
    await redis.xreadgroup("runners", "dead-runner", {stream: ">"}, count=1)
    await redis.set(keys.lease("agent-x"), "7:dead-runner", px=60_000)
    claimed_at = asyncio.get_running_loop().time()

    deliveries: list[int] = []

    async def handle(e: CloudEvent) -> None:
        delivery = current_delivery()
        assert delivery is not None
        deliveries.append(delivery.deliveries)

    await pumps.start(handle, settings=settings)
    await eventually(lambda: deliveries == [2], timeout_s=10)
    assert asyncio.get_running_loop().time() - claimed_at >= 0.8
    await eventually(lambda: drained(redis, keys))

    async def lease_released() -> bool:  # taken over, then released once the entry settles
        return (await redis.get(keys.lease("agent-x"))) in (None, b"")

    await eventually(lease_released)
    pending = await redis.xpending_range(stream, "runners", "-", "+", 10, consumername="dead-runner")
    assert pending == []


async def test_a_live_handler_running_past_many_lease_ttls_is_never_reclaimed(
    redis: Redis, keys: StreamKeys, pumps: Pumps, metrics: StreamMetrics
) -> None:
    settings = fast_settings(keys, lease_ttl_ms=800, heartbeat_every_s=0.1, reclaim_every_s=0.05)
    starts: list[str] = []

    async def slow(event: CloudEvent) -> None:
        starts.append(current_delivery().consumer)  # type: ignore[union-attr]
        await asyncio.sleep(4.0)  # five lease ttls

    await pumps.start(slow, settings=settings, consumer="a")
    await pumps.start(slow, settings=settings, consumer="b")
    await publish(redis, keys, [activation("agent-long")])

    await eventually(lambda: drained(redis, keys), timeout_s=10)
    assert len(starts) == 1
    labels = {"stream": keys.activations(ev.Priority.NORMAL), "how": "reclaimed"}
    assert metrics.registry.get_sample_value("botburrow_events_claimed_total", labels) in (None, 0.0)
    assert await redis.xlen(keys.results) == 0  # the handler returned no outcome; nothing else ran it


async def test_failing_event_is_dead_lettered_after_max_deliveries_then_replayed(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    attempts: list[int] = []
    broken = True

    async def handle(event: CloudEvent) -> list[CloudEvent]:
        attempts.append(current_delivery().deliveries)  # type: ignore[union-attr]
        if broken:
            raise RuntimeError("hub said 500")
        return [event]

    await pumps.start(handle, settings=fast_settings(keys, max_deliveries=3))
    event = activation("agent-d")
    await publish(redis, keys, [event])

    letters = DeadLetters(redis, Scripts(redis), keys)
    await eventually(lambda: letters.count())
    assert attempts == [1, 2, 3]
    [letter] = await letters.entries()
    assert letter.event_id == event["id"]
    assert letter.deliveries == 3
    assert letter.reason.startswith("failed 3 deliveries")
    assert letter.last_error == "RuntimeError: hub said 500"
    assert letter.origin == keys.activations(ev.Priority.NORMAL)

    broken = False
    assert await letters.replay(event["id"])
    await eventually(lambda: redis.xlen(keys.results))
    assert attempts[3:] == [1], "a replayed event starts with a fresh delivery count"
    assert await letters.count() == 0
    assert await letters.replay(event["id"]) is None


async def test_an_event_dead_lettered_again_is_one_record_with_a_count(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    """The same work queued again and rejected again (an agent nothing can run, say) does
    not grow the dead-letter stream: its record is replaced, counted, the latest reason
    kept; other events keep records of their own, and a replay starts the count over."""
    rejections = 0

    async def handle(event: CloudEvent) -> None:
        nonlocal rejections
        rejections += 1
        raise PermanentError(f"no executor (time {rejections})")

    await pumps.start(handle)
    letters = DeadLetters(redis, Scripts(redis), keys)
    again, other = activation("agent-x"), activation("agent-y")
    for n in range(1, 4):
        await publish(redis, keys, [again])
        await eventually(lambda n=n: rejections == n)  # type: ignore[misc]
        await eventually(lambda: drained(redis, keys))
    await publish(redis, keys, [other])
    await eventually(lambda: rejections == 4)
    await eventually(lambda: drained(redis, keys))

    first, second = await letters.entries()
    assert await letters.count() == 2
    assert (first.event_id, first.count) == (again["id"], 3)
    assert first.reason == "handler rejected the event: no executor (time 3)"
    assert first.first_at < first.at
    assert (second.event_id, second.count) == (other["id"], 1)
    assert first.as_dict()["count"] == 3

    assert await letters.replay(again["id"])
    await eventually(lambda: rejections == 5)
    await eventually(lambda: drained(redis, keys))
    replayed = [letter for letter in await letters.entries() if letter.event_id == again["id"]]
    assert [(r.count, r.reason) for r in replayed] == [(1, "handler rejected the event: no executor (time 5)")]
    assert replayed[0].first_at == replayed[0].at


async def test_malformed_entries_are_dead_lettered_with_the_reason_and_the_pump_carries_on(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    seen, handle = recorder()
    await pumps.start(handle)
    stream = keys.activations(ev.Priority.LOW)
    good = ev.encode_structured(activation("agent-ok"))
    bad = {
        "no event field": {b"type": b"x"},
        "not json": {b"event": b"{nope"},
        "array": {b"event": b"[1, 2]"},
        "no source": {b"event": orjson.dumps({"specversion": "1.0", "id": "1", "type": "t"})},
        "bad specversion": {b"event": good.replace(b'"specversion":"1.0"', b'"specversion":"0.1"')},
        "bad base64": {
            b"event": orjson.dumps({"specversion": "1.0", "id": "1", "type": "t", "source": "/s", "data_base64": "%%%"})
        },
        "binary garbage": {b"event": b"\xff\xfe\x00"},
    }
    for fields in bad.values():
        await redis.xadd(stream, fields)  # type: ignore[arg-type]
    await redis.xadd(stream, {b"event": good})

    letters = DeadLetters(redis, Scripts(redis), keys)
    await eventually(lambda: len(seen) == 1)
    await eventually(lambda: drained(redis, keys))
    reasons = [letter.reason for letter in await letters.entries()]
    assert len(reasons) == len(bad)
    assert all(r.startswith("malformed entry: ") for r in reasons)
    assert "malformed entry: event: stream entry has no 'event' field (fields present: type)" in reasons
    assert any(r.startswith("malformed entry: event: not valid JSON") for r in reasons)
    assert "malformed entry: source: required attribute is missing" in reasons
    assert "malformed entry: specversion: must be '1.0', got '0.1'" in reasons
    assert "malformed entry: data_base64: not valid base64" in reasons


async def test_retry_later_is_not_a_failure(redis: Redis, keys: StreamKeys, pumps: Pumps) -> None:
    calls: list[int] = []

    async def handle(event: CloudEvent) -> None:
        calls.append(current_delivery().deliveries)  # type: ignore[union-attr]
        if len(calls) <= 5:
            raise RetryLater(0.02, "budget window not open yet")

    await pumps.start(handle, settings=fast_settings(keys, max_deliveries=2))
    await publish(redis, keys, [activation("agent-r")])
    await eventually(lambda: len(calls) == 6)
    await eventually(lambda: drained(redis, keys))
    assert calls == [1] * 6
    assert await redis.xlen(keys.dlq) == 0


async def test_permanent_error_dead_letters_at_once(redis: Redis, keys: StreamKeys, pumps: Pumps) -> None:
    calls = 0

    async def handle(event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("agent type 'custom' has no executor")

    await pumps.start(handle)
    await publish(redis, keys, [activation("agent-p")])
    letters = DeadLetters(redis, Scripts(redis), keys)
    await eventually(lambda: letters.count())
    [letter] = await letters.entries()
    assert calls == 1
    assert letter.reason == "handler rejected the event: agent type 'custom' has no executor"


async def test_outcome_events_are_published_with_the_ack(redis: Redis, keys: StreamKeys, pumps: Pumps) -> None:
    from functions.runner.noop import handle

    await pumps.start(handle)
    events = [activation(f"agent-{i}") for i in range(20)]
    await publish(redis, keys, events)
    await eventually(lambda: drained(redis, keys))
    results = await redis.xrange(keys.results)
    completed = [ev.from_fields(fields) for _, fields in results]
    assert sorted(c.get_data()["activation_id"] for c in completed) == sorted(e["id"] for e in events)
    assert {c["type"] for c in completed} == {ev.ACTIVATION_COMPLETED}


async def test_reclaimed_work_keeps_its_agent_ahead_of_newer_events(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    """A dead runner's lease passes to the runner that reclaims its entries, not to newer work."""
    stream = keys.activations(ev.Priority.NORMAL)
    old, new = activation("agent-y", 1), activation("agent-y", 2)
    await publish(redis, keys, [old])
    await redis.xgroup_create(stream, "runners", id="0")
    await redis.xreadgroup("runners", "dead-runner", {stream: ">"}, count=1)
    await redis.set(keys.lease("agent-y"), "7:dead-runner", px=60_000)
    await publish(redis, keys, [new])  # arrives while the dead runner still "holds" the agent

    order: list[str] = []

    async def handle(event: CloudEvent) -> None:
        order.append(event["id"])

    await pumps.start(handle, settings=fast_settings(keys, lease_ttl_ms=800))
    await eventually(lambda: len(order) == 2, timeout_s=10)
    assert order == [old["id"], new["id"]]


async def test_lag_and_pending_gauges_match_what_keda_reads(
    redis: Redis, keys: StreamKeys, pumps: Pumps, metrics: StreamMetrics
) -> None:
    release = asyncio.Event()

    async def held(event: CloudEvent) -> None:
        await release.wait()

    await pumps.start(held, concurrency=3)
    await publish(redis, keys, [activation(f"agent-{i}") for i in range(10)])
    stream = keys.activations(ev.Priority.NORMAL)

    def gauge(name: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"stream": stream})

    await eventually(lambda: gauge("botburrow_stream_pending") == 3 and gauge("botburrow_stream_lag") == 7)
    [group] = [g for g in await redis.xinfo_groups(stream) if g["name"] == b"runners"]
    assert (group["lag"], group["pending"]) == (7, 3)
    release.set()
    await eventually(lambda: gauge("botburrow_stream_pending") == 0 and gauge("botburrow_stream_lag") == 0)


async def test_an_event_comes_back_from_the_delayed_set_byte_for_byte(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    event = ev.activation_requested(
        agent_id="agent-ü",
        agent_name="ünïcode 🦔",
        kind=ev.ActivationKind.INBOX,
        requested_at=datetime.now(UTC),
        notification_ids=["n-1"],
        reason='quotes " and \\ backslashes, tabs\t, emoji 🦔 and 中文',
    )
    seen: list[bytes] = []

    async def handle(e: CloudEvent) -> None:
        seen.append(ev.encode_structured(e))
        if len(seen) == 1:
            raise RetryLater(0.05)

    await pumps.start(handle)
    await publish(redis, keys, [event])
    await eventually(lambda: len(seen) == 2)
    assert seen[0] == seen[1] == ev.encode_structured(event)

"""``botburrow dlq list | replay`` and ``botburrow streams`` against a real redis-server."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.cli import main
from shared.events import Priority, to_fields
from shared.streams import Redis, StreamKeys, connect, ensure_groups
from tests.shared.streams.conftest import activation


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys) -> StreamKeys:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("STREAM_PREFIX", keys.prefix)
    return keys


def dead_letter(redis_url: str, keys: StreamKeys, event_id_holder: list[str]) -> None:
    """Run a pump over one event whose handler always fails, until it is dead-lettered."""
    from prometheus_client import CollectorRegistry

    from shared.streams import Pump, StreamMetrics
    from tests.conftest import eventually, fast_settings
    from tests.shared.streams.conftest import publish

    async def go() -> None:
        redis = connect(redis_url)

        async def broken(event: object) -> None:
            raise RuntimeError("the hub is down")

        pump = Pump(
            redis=redis,
            keys=keys,
            settings=fast_settings(keys, max_deliveries=2),
            handler=broken,
            consumer="cli-test",
            metrics=StreamMetrics(CollectorRegistry()),
        )
        task = asyncio.create_task(pump.run())
        event = activation("agent-cli")
        event_id_holder.append(event["id"])
        await publish(redis, keys, [event])
        await redis.xadd(keys.activations(Priority.LOW), {b"junk": b"1"})
        await eventually(lambda: _dlq(redis, keys, 2))
        pump.stop()
        await task
        await redis.aclose()

    asyncio.run(go())


async def _dlq(redis: Redis, keys: StreamKeys, n: int) -> bool:
    return bool(await redis.xlen(keys.dlq) >= n)


def test_dlq_list_shows_reason_and_last_error(
    env: StreamKeys, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids: list[str] = []
    dead_letter(redis_url, env, ids)
    assert main(["dlq", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 dead letter(s)")
    assert f"event={ids[0]}" in out
    assert "reason: failed 2 deliveries (max_deliveries=2)" in out
    assert "last error: RuntimeError: the hub is down" in out
    assert "reason: malformed entry: event: stream entry has no 'event' field" in out

    assert main(["dlq", "list", "--json"]) == 0
    rows = {r["event_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows[ids[0]]["deliveries"] == 2
    assert rows[ids[0]]["last_error"] == "RuntimeError: the hub is down"
    assert rows[None]["reason"].startswith("malformed entry")


def test_dlq_replay_by_event_id_then_all(env: StreamKeys, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids: list[str] = []
    dead_letter(redis_url, env, ids)
    assert main(["dlq", "replay", "--id", ids[0]]) == 0
    assert f"replayed {ids[0]} as " in capsys.readouterr().out
    assert main(["dlq", "replay", "--id", ids[0]]) == 1
    assert "no dead letter matches" in capsys.readouterr().err
    assert main(["dlq", "replay", "--all"]) == 0
    assert "replayed 1 dead letter(s)" in capsys.readouterr().out

    async def check() -> tuple[int, list[dict[bytes, bytes]]]:
        redis = connect(redis_url)
        try:
            normal = [f for _, f in await redis.xrange(env.activations(Priority.NORMAL))]
            low = [f for _, f in await redis.xrange(env.activations(Priority.LOW))]
            return await redis.xlen(env.dlq), normal + low
        finally:
            await redis.aclose()

    remaining, entries = asyncio.run(check())
    assert remaining == 0
    replayed = [f for f in entries if b"deliveries" not in f]  # fresh entries carry no history
    assert any(f.get(b"junk") == b"1" for f in replayed), "a malformed entry replays as it was"
    assert any(json.loads(f[b"event"])["id"] == ids[0] for f in replayed if b"event" in f)


def test_streams_status(env: StreamKeys, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def setup() -> None:
        redis = connect(redis_url)
        await ensure_groups(redis, {env.activations(Priority.HIGH): "runners"})
        await redis.xadd(env.activations(Priority.HIGH), to_fields(activation("a")))  # type: ignore[arg-type]
        await redis.aclose()

    asyncio.run(setup())
    assert main(["streams", "--json"]) == 0
    rows = {r["stream"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    high = rows[env.activations(Priority.HIGH)]
    assert (high["length"], high["lag"], high["pending"]) == (1, 1, 0)
    assert rows[env.dlq]["length"] == 0


def test_redis_unreachable_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["dlq", "list"]) == 2
    assert "redis unavailable during XRANGE dlq" in capsys.readouterr().err


def test_an_unreadable_dead_letter_is_listed_and_skipped_by_replay_all(
    env: StreamKeys, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids: list[str] = []
    dead_letter(redis_url, env, ids)

    async def add_junk() -> None:
        redis = connect(redis_url)
        await redis.xadd(env.dlq, {b"written": b"by hand"})
        await redis.aclose()

    asyncio.run(add_junk())
    assert main(["dlq", "list"]) == 0
    assert "reason: unreadable dead-letter entry: invalid event: event: stream entry has no 'event' field" in (
        capsys.readouterr().out
    )
    assert main(["dlq", "replay", "--all"]) == 1
    captured = capsys.readouterr()
    assert "replayed 2 dead letter(s)" in captured.out
    assert "not replayed: invalid event: dlq: entry" in captured.err
    assert main(["dlq", "list", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1, "only the junk is left"

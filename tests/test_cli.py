"""``botburrow dlq | streams`` against a real redis-server; ``botburrow send`` against a loopback HTTP target."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.cli import main
from shared.events import NOTIFICATION_CREATED, Priority, from_http, to_fields
from shared.signing import SIGNATURE_HEADER, verify_signature
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
    from tests.shared.streams.conftest import publish
    from tests.support import eventually, fast_settings

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


# -- botburrow send ------------------------------------------------------------------------------------------------


class Recorder:
    """A loopback HTTP target that keeps every request and answers with ``status`` and ``body``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 202
        self.body = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text=self.body)


@pytest.fixture
async def target() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/", recorder.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield recorder, str(server.make_url("/"))


async def send(*argv: str) -> int:
    """``botburrow send`` in a worker thread: it blocks on HTTP while this loop serves the target."""
    return await asyncio.to_thread(main, ["send", *argv])


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
async def test_send_delivers_a_cloudevent_in_either_mode(
    target: tuple[Recorder, str], capsys: pytest.CaptureFixture[str], structured: bool
) -> None:
    recorder, url = target
    recorder.body = "queued"
    argv = [url, "--type", NOTIFICATION_CREATED, "--subject", "bramble", "--data", '{"agent_id": "bramble"}']

    assert await send(*argv, *(["--structured"] if structured else [])) == 0

    (headers, body), out = recorder.requests[0], capsys.readouterr().out
    assert ("ce-type" in {k.lower() for k in headers}) is not structured
    event = from_http(headers, body)
    assert event["type"] == NOTIFICATION_CREATED
    assert event["subject"] == "bramble"
    assert event["source"] == "botburrow-cli"
    assert str(uuid.UUID(event["id"])) == event["id"]
    assert event.get_data() == {"agent_id": "bramble"}
    assert out == "HTTP 202 Accepted\nqueued\n"


async def test_send_takes_data_from_a_file_and_an_explicit_id_and_source(
    target: tuple[Recorder, str], tmp_path: Path
) -> None:
    recorder, url = target
    (tmp_path / "data.json").write_text('{"agent_id": "nova", "note": "from a file"}')

    argv = [url, "--type", "com.example.t", "--id", "evt-1", "--source", "/me", "--data", f"@{tmp_path / 'data.json'}"]
    assert await send(*argv) == 0

    event = from_http(*recorder.requests[0])
    assert (event["id"], event["source"]) == ("evt-1", "/me")
    assert event.get_data() == {"agent_id": "nova", "note": "from a file"}


async def test_send_without_data_sends_an_empty_body(target: tuple[Recorder, str]) -> None:
    recorder, url = target

    assert await send(url, "--type", "com.example.ping") == 0

    headers, body = recorder.requests[0]
    assert body == b""
    event = from_http(headers, body)
    assert event["type"] == "com.example.ping" and "subject" not in event.get_attributes()


async def test_send_reports_a_refusal_with_its_body_and_exit_1(
    target: tuple[Recorder, str], capsys: pytest.CaptureFixture[str]
) -> None:
    recorder, url = target
    recorder.status, recorder.body = 400, '{"error": "invalid event: data.agent_id: field required"}'

    assert await send(url, "--type", NOTIFICATION_CREATED, "--data", "{}") == 1

    out = capsys.readouterr().out
    assert out.startswith("HTTP 400 Bad Request\n")
    assert "invalid event: data.agent_id: field required" in out


async def test_send_bad_data_json_is_a_usage_error_naming_data(
    target: tuple[Recorder, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    recorder, url = target

    assert await send(url, "--type", "t", "--data", "{agent_id: bramble}") == 2
    assert "--data is not valid JSON" in capsys.readouterr().err
    assert await send(url, "--type", "t", "--data", f"@{tmp_path / 'missing.json'}") == 2
    assert f"--data @{tmp_path / 'missing.json'}: cannot read it" in capsys.readouterr().err
    assert await send(url, "--type", "", "--data", "{}") == 2
    assert "invalid event: type: must be a non-empty string" in capsys.readouterr().err
    assert recorder.requests == [], "nothing is sent when the event cannot be built"


def test_send_to_an_unreachable_url_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "http://127.0.0.1:1/", "--type", "t"]) == 2
    assert "botburrow send: cannot reach http://127.0.0.1:1/" in capsys.readouterr().err
    assert main(["send", "ftp://127.0.0.1/", "--type", "t"]) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err


def test_send_without_a_type_is_an_argparse_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send", "http://127.0.0.1:1/"])
    assert exited.value.code == 2
    assert "--type" in capsys.readouterr().err


async def test_send_signs_or_sends_a_bearer_token_from_the_environment(
    target: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder, url = target
    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret-1")
    monkeypatch.setenv("TEST_BEARER", "bearer-token-1")
    argv = [url, "--type", NOTIFICATION_CREATED, "--data", '{"agent_id": "bramble"}']

    assert await send(*argv, "--sign-env", "TEST_HOOK_SECRET") == 0
    assert await send(*argv, "--bearer-env", "TEST_BEARER", "--structured") == 0
    assert await send(*argv, "--bearer-env", "TEST_UNSET") == 2

    (signed, body), (bearer, _) = recorder.requests
    assert verify_signature("hook-secret-1", body, signed[SIGNATURE_HEADER])
    assert bearer["Authorization"] == "Bearer bearer-token-1"
    assert len(recorder.requests) == 2, "nothing sent without the credential asked for"
    captured = capsys.readouterr()
    assert "--bearer-env TEST_UNSET" in captured.err and "bearer-token-1" not in captured.out + captured.err


def test_activations_list_one_line_per_attempt_newest_first(
    env: StreamKeys, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.transcripts import TranscriptStore

    three_hours_ago = time.time() - 3 * 3600

    async def setup() -> None:
        redis = connect(redis_url)
        for n, (agent, outcome) in enumerate((("ana", "replied"), ("bob", "failed"), ("ana", None))):
            store = TranscriptStore(redis, keys=env, clock=lambda n=n: three_hours_ago + 60 * n)
            t = store.open(activation_id=f"act-{n}", attempt=1, agent=agent, kind="inbox")
            if outcome:
                t.add("end", outcome=outcome, calls=1, cost_usd=0.25)
            await t.flush()
        await redis.aclose()

    asyncio.run(setup())
    assert main(["activations", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["act-2", "act-1", "act-0"]
    started = datetime.fromtimestamp(three_hours_ago + 60, UTC).strftime("%Y-%m-%d %H:%M:%SZ").split()
    assert lines[1].split() == ["act-1", "#1", "bob", "inbox", *started, "failed", "$0.2500"]
    assert lines[0].split()[-2:] == ["running", "-"]
    assert main(["activations", "list", "--agent", "ana", "--outcome", "replied", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["activation_id"], r["outcome"], r["cost_usd"]) for r in rows] == [("act-0", "replied", 0.25)]
    assert main(["activations", "list", "--since", "1h"]) == 1, "all three started three hours ago"
    assert "no recorded activation matches" in capsys.readouterr().err
    assert main(["activations", "list", "--since", "4h", "--limit", "1"]) == 0
    assert capsys.readouterr().out.split()[0] == "act-2"
    assert main(["activations", "list", "--since", "last tuesday"]) == 2
    assert "--since 'last tuesday': not an ISO 8601 time" in capsys.readouterr().err

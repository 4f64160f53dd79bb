"""The queue-proxy emulation: Knative's containerConcurrency from the manifests, and what it does to a webhook.

The last test is the reason it exists: with the old shape (the Hub's webhook to the
one-at-a-time poller) a webhook waits behind a tick; with ingest as its own Service it
does not. Both run the real functions-framework targets as processes, behind proxies
whose limits come from the manifests.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from local_emulator.hub import MockHub, MockHubServer
from local_emulator.queue_proxy import QueueProxy, service_concurrency
from shared.events import Priority, notification_created, ping, to_http
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import write_agent
from tests.support import ROOT, child_env, eventually, free_port

KNATIVE = ROOT / "knative"


class Slow:
    """An upstream whose POSTs take ``hold_s``; it counts how many it serves at once."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.now = 0
        self.most = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response({"status": "ok"})
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(self.hold_s)
        finally:
            self.now -= 1
        return web.json_response({"echo": request.headers.get("x-test", "")}, headers={"x-upstream": "1"})


@contextlib.asynccontextmanager
async def slow_upstream(hold_s: float) -> AsyncIterator[tuple[Slow, str]]:
    slow = Slow(hold_s)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield slow, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_each_services_concurrency_is_read_from_the_manifests(tmp_path: Path) -> None:
    found = service_concurrency(KNATIVE)
    assert found["poller"] == 1, "one tick at a time"
    assert found["ingest"] > 1, "webhooks many at once"
    assert found["metrics"] == 0, "unset: unlimited, as Knative's default"
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: x}\n"
        "spec: {template: {spec: {containerConcurrency: '4'}}}\n"
    )
    with pytest.raises(ValueError, match=r"bad.yaml: Service x: containerConcurrency '4'"):
        service_concurrency(tmp_path)


async def test_requests_beyond_the_concurrency_wait_then_overflow_with_503() -> None:
    async with (
        slow_upstream(hold_s=0.3) as (slow, upstream),
        QueueProxy(name="t", upstream=upstream, concurrency=2, queue_depth=3) as proxy,
        httpx.AsyncClient(base_url=proxy.url, timeout=10) as http,
    ):
        started = time.monotonic()
        answers = await asyncio.gather(*(http.post("/", headers={"x-test": str(i)}, content=b"{}") for i in range(6)))
        took_s = time.monotonic() - started
        health = await http.get("/healthz")
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 5 + [503], "2 in flight and 3 waiting; the sixth overflows"
    assert slow.most == 2, "never more than containerConcurrency at the container"
    assert took_s >= 0.85, "the waiting ones ran after the first two (three rounds of 0.3 s)"
    ok = [a for a in answers if a.status_code == 200]
    assert {a.json()["echo"] for a in ok} <= {str(i) for i in range(6)} and ok[0].headers["x-upstream"] == "1"
    refused = next(a for a in answers if a.status_code == 503)
    assert refused.json()["problem"] == "pending request queue full"
    assert proxy.counts.refused == 1 and proxy.counts.max_in_flight == 2 and proxy.counts.max_waiting == 3
    assert health.status_code == 200


async def test_probes_pass_while_the_one_slot_is_taken() -> None:
    async with (
        slow_upstream(hold_s=2.0) as (_, upstream),
        QueueProxy(name="t", upstream=upstream, concurrency=1) as proxy,
        httpx.AsyncClient(base_url=proxy.url, timeout=10) as http,
    ):
        busy = asyncio.create_task(http.post("/", content=b"{}"))
        await eventually(lambda: proxy.counts.in_flight == 1)
        started = time.monotonic()
        assert (await http.get("/healthz")).status_code == 200
        assert time.monotonic() - started < 1.0, "the kubelet's probe does not queue"
        assert proxy.queue_depth == 10, "Knative's queue: 10 x containerConcurrency"
        await busy


# -- the tick-blocks-webhooks problem, with the real targets ------------------------------------

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
WEBHOOK_SECRET = "webhook-secret-for-the-test"
EVENTS_TOKEN = "events-token-for-the-test"
TICK_S = 4


@pytest.fixture
def hub_agents() -> list[str]:
    return ["alice", "bob"]


@contextlib.contextmanager
def target(source: str, name: str, log: Path, **env: str) -> Iterator[str]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "functions-framework"), "--source", source, "--target", name]
    command += ["--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env(**env), stdout=sink, stderr=sink)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        finally:
            process.kill()


async def up(url: str, log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as http:

        async def healthy() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return (await http.get(url + "/healthz")).status_code == 200
            return False

        try:
            await eventually(healthy, timeout_s=30, every_s=0.1)
        except AssertionError as exc:
            raise AssertionError(log.read_text()[-3000:]) from exc


async def queued(redis: Redis, keys: StreamKeys) -> int:
    return sum([await redis.xlen(keys.activations(p)) for p in Priority])


def pushed(agent_id: str, note: str) -> tuple[dict[str, str], bytes]:
    """A webhook delivery as the mock Hub makes it: binary mode, signed over the body."""
    notification = {"id": note, "type": "mention", "agent_id": agent_id, "content": "hi"}
    headers, body = to_http(notification_created(at=NOW, agent_id=agent_id, notification=notification), binary=True)
    headers[SIGNATURE_HEADER] = signature(WEBHOOK_SECRET, body)
    return headers, body


@pytest.mark.slow
async def test_a_webhook_waits_behind_a_tick_on_the_old_poller_and_not_on_ingest(
    hub: MockHub, server: MockHubServer, redis: Redis, redis_url: str, keys: StreamKeys, tmp_path: Path
) -> None:
    hub.long_poll = False  # a tick then sleeps out its window (POLL_INTERVAL is long): it sees no new work
    for name in ("alice", "bob"):
        write_agent(tmp_path / "agents", name, {})
    env = {
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": keys.prefix,
        "HUB_URL": server.url,
        "HUB_API_KEY": hub.api_key,
        "AGENTS_DIR": str(tmp_path / "agents"),
        "POLL_INTERVAL": "600",
        "HUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "EVENTS_TOKEN": EVENTS_TOKEN,
        "LOG_LEVEL": "warning",
    }
    limits = service_concurrency(KNATIVE)
    with (
        # The old shape: one Service for ticks and webhooks, the poller's handler for both kinds
        # (served here by the generic target, which takes RUNNER_HANDLER and a bearer token).
        target(
            "functions/runner/main.py",
            "runner",
            tmp_path / "old.log",
            RUNNER_HANDLER="functions.poller.handlers:handler",
            **env,
        ) as old,
        target("functions/poller/main.py", "poller", tmp_path / "poller.log", **env) as poller,
        target("functions/poller/ingest.py", "ingest", tmp_path / "ingest.log", **env) as ingest,
    ):
        for url, log in ((old, "old.log"), (poller, "poller.log"), (ingest, "ingest.log")):
            await up(url, tmp_path / log)
        async with (
            QueueProxy(name="poller (old)", upstream=old, concurrency=limits["poller"]) as old_proxy,
            QueueProxy(name="poller", upstream=poller, concurrency=limits["poller"]) as poller_proxy,
            QueueProxy(name="ingest", upstream=ingest, concurrency=limits["ingest"]) as ingest_proxy,
            httpx.AsyncClient(timeout=30) as http,
        ):
            bearer = {"authorization": f"Bearer {EVENTS_TOKEN}"}
            tick_headers, tick_body = to_http(ping(at=NOW, window_s=TICK_S), binary=True)

            # Old: the webhook queues behind the tick in the poller's one slot.
            tick = asyncio.create_task(http.post(old_proxy.url, headers={**tick_headers, **bearer}, content=tick_body))
            await eventually(lambda: old_proxy.counts.in_flight == 1)
            await asyncio.sleep(0.5)
            headers, body = pushed(hub.require_agent("alice").id, "ntf_old")
            started = time.monotonic()
            answer = await http.post(old_proxy.url, headers={**headers, **bearer}, content=body)
            old_wait_s = time.monotonic() - started
            assert answer.status_code == 200, answer.text
            assert old_proxy.counts.max_waiting == 1, "it waited in line for the poller's one slot"
            assert (await tick).status_code == 200
            assert old_wait_s > TICK_S - 1.5, f"the webhook waited for the tick: {old_wait_s:.2f}s"
            assert await queued(redis, keys) == 1

            # New: ticks to the poller, webhooks to ingest; the tick holds the poller, not ingest.
            tick = asyncio.create_task(http.post(poller_proxy.url, headers=tick_headers, content=tick_body))
            await eventually(lambda: poller_proxy.counts.in_flight == 1)
            await asyncio.sleep(0.5)
            headers, body = pushed(hub.require_agent("bob").id, "ntf_new")
            unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
            refused = await http.post(ingest_proxy.url, headers=unsigned, content=body)
            forged = {**headers, SIGNATURE_HEADER: signature("not the secret", body)}
            refused_too = await http.post(ingest_proxy.url, headers=forged, content=body)
            assert (refused.status_code, refused_too.status_code) == (401, 401)
            assert await queued(redis, keys) == 1, "a refused push queues nothing"
            started = time.monotonic()
            answer = await http.post(ingest_proxy.url, headers=headers, content=body)
            new_wait_s = time.monotonic() - started
            assert answer.status_code == 200, answer.text
            assert not tick.done(), "the tick is still in progress"
            assert await queued(redis, keys) == 2, "published during the tick"
            assert new_wait_s < 1.0, f"the webhook did not wait: {new_wait_s:.3f}s"
            assert poller_proxy.counts.in_flight == 1 and ingest_proxy.counts.max_waiting == 0
            assert (await tick).status_code == 200

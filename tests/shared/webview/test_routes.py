"""The web view's routes on a Flask app: who may see it, the one-time link, the controls, bounded event streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import flask
import pytest
import redis as sync_redis

from local_emulator.hub import MockHub, MockHubServer
from shared.streams import StreamKeys, connect
from shared.transcripts import TranscriptStore
from shared.webview import COOKIE, UI_HEADER, install_webview_routes
from shared.webview._snapshot import _pools
from tests.support.metrics_target import metrics_target, unique_prefix

TOKEN = "operator-token-0123"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
GUARDED = ["/ui", "/ui/api/snapshot", "/ui/api/activations/evt-1", "/ui/activations/evt-1", "/ui/events"]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    yield from unique_prefix(redis_url)


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(redis_url)
    client.hset(f"{prefix}:poller:agents", "id-alice", "alice")
    opened = {"state": "open", "failures": "5", "open_until": str(time.time() + 600)}
    client.hset(f"{prefix}:breaker:id-alice", mapping=opened)
    yield client
    client.close()


@pytest.fixture
def app(redis_url: str, prefix: str, server: MockHubServer) -> Iterator[flask.Flask]:
    target = metrics_target(redis_url=redis_url, prefix=prefix, hub_url=server.url, operator_token=TOKEN)
    app = flask.Flask("webview-test")
    install_webview_routes(app, target, max_streams=1, stream_max_s=5.0, every_s=0.5)
    yield app
    target.close()


def test_without_a_credential_every_view_and_data_route_is_401(
    app: flask.Flask, store: sync_redis.Redis, prefix: str
) -> None:
    client = app.test_client()
    for path in GUARDED:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": f"{COOKIE}=made-up"}):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert TOKEN not in answer.get_data(as_text=True)
    assert "sign-in link" in client.get("/ui").get_data(as_text=True), "the page says how to sign in"
    assert client.post("/ui/api/agents/alice/pause", headers={UI_HEADER: "1"}).status_code == 401
    assert client.post("/ui/login-link").status_code == 401
    assert store.hget(f"{prefix}:breaker:id-alice", "state") == b"open" and not store.exists(f"{prefix}:paused")


def test_a_login_link_opens_a_session_once_and_only_hashes_are_stored(
    app: flask.Flask, store: sync_redis.Redis, prefix: str
) -> None:
    client = app.test_client()
    url = client.post("/ui/login-link", headers=BEARER).get_json()["url"]
    token = url.split("token=", 1)[1]
    assert not [k for k in store.scan_iter(match=f"{prefix}:*") if token.encode() in k]
    answer = client.get(url)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/ui")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/ui").status_code == 200, "the cookie signs the browser in"
    assert client.get("/ui/api/snapshot").get_json()["agents"][0]["name"] == "alice"
    assert app.test_client().get(url).status_code == 401, "the link works once"


def test_the_page_controls_pause_and_reset_audited_and_want_the_page_header(
    app: flask.Flask, store: sync_redis.Redis, prefix: str
) -> None:
    client = app.test_client()
    assert client.post("/ui/api/agents/alice/pause", headers=BEARER).status_code == 403
    assert not store.exists(f"{prefix}:paused")
    assert client.post("/ui/api/agents/alice/pause", headers={**BEARER, UI_HEADER: "1"}).status_code == 200
    assert client.post("/ui/api/agents/alice/breaker-reset", headers={**BEARER, UI_HEADER: "1"}).status_code == 200
    assert client.post("/ui/api/agents/nobody/pause", headers={**BEARER, UI_HEADER: "1"}).status_code == 404
    agent = client.get("/ui/api/snapshot", headers=BEARER).get_json()["agents"][0]
    assert agent["paused"] is True and agent["breaker"]["state"] == "closed"
    audit = [fields for _id, fields in store.xrange(f"{prefix}:audit")]
    assert [(f[b"who"], f[b"action"]) for f in audit] == [
        (b"ui:operator", b"pause"),
        (b"ui:operator", b"breaker_reset"),
    ]


def test_event_streams_are_bounded_and_a_closed_one_frees_its_slot(app: flask.Flask, store: sync_redis.Redis) -> None:
    client = app.test_client()
    first = client.get("/ui/events", headers=BEARER, buffered=False)
    assert first.status_code == 200 and first.mimetype == "text/event-stream"
    chunks = iter(first.response)
    assert next(chunks).startswith(b"retry:")
    event = next(chunks)
    assert event.startswith(b"event: snapshot\ndata: {") and b'"alice"' in event
    busy = client.get("/ui/events", headers=BEARER)
    assert busy.status_code == 503 and busy.headers["Retry-After"]
    first.close()
    unread = client.get("/ui/events", headers=BEARER, buffered=False)
    assert unread.status_code == 200
    unread.close()  # never iterated: the slot comes back all the same
    again = client.get("/ui/events", headers=BEARER, buffered=False)
    assert again.status_code == 200
    again.close()


def test_the_static_files_the_pages_name_are_shipped_and_open(app: flask.Flask) -> None:
    client = app.test_client()
    for name in ("style.css", "app.js", "plots.js", "activation.js"):
        answer = client.get(f"/ui/static/{name}")
        assert answer.status_code == 200 and answer.data, name
    assert client.get("/ui/static/../_routes.py").status_code == 404
    assert client.get("/ui/static/missing.js").status_code == 404


async def test_a_snapshot_shows_the_thread_an_activation_works_on_its_step_then_its_outcome_and_spend(
    app: flask.Flask, store: sync_redis.Redis, prefix: str, redis_url: str, hub: MockHub
) -> None:
    post = hub.human_post("dana", "@alice how do seeds sprout?")
    hub.human_comment("erin", post.id, "With water and patience.")
    redis = connect(redis_url)
    try:
        transcript = TranscriptStore(redis, keys=StreamKeys(prefix)).open(
            activation_id="act-1", attempt=1, agent="alice", kind="inbox"
        )
        said = f"- [n1] mention from @dana on post {post.id}: @alice how do seeds sprout?"
        message = {"role": "user", "parts": [{"type": "text", "text": said}]}
        transcript.add("llm_request", conversation="n1", call=1, model="m", messages=[message])
        await transcript.flush()
        client = app.test_client()
        # The mock Hub is served on this test's loop: the routes are called from another thread.
        snap = (await asyncio.to_thread(client.get, "/ui/api/snapshot", headers=BEARER)).get_json()
        assert [(a["id"], a["step"]) for a in snap["in_flight"]] == [("act-1", "llm_request")]
        [thread] = snap["threads"]
        assert thread["id"] == post.id and thread["activations"] == ["act-1"]
        assert thread["post"]["content"] == "@alice how do seeds sprout?"
        assert [c["content"] for c in thread["post"]["comments"]] == ["With water and patience."]
        transcript.add("end", outcome="replied", calls=1, cost_usd="0.002", error=None)
        await transcript.flush()
        snap = (await asyncio.to_thread(client.get, "/ui/api/snapshot", headers=BEARER)).get_json()
        assert snap["in_flight"] == []
        assert [point[1] for point in snap["series"]["spend"]["alice"]] == [0.002]
        assert [bucket["counts"] for bucket in snap["series"]["outcomes"]] == [{"replied": 1}]
        page = (await asyncio.to_thread(client.get, "/ui/api/activations/act-1", headers=BEARER)).get_json()
        assert [e["kind"] for e in page["entries"]] == ["begin", "llm_request", "end"]
        assert page["summary"]["outcome"] == "replied" and page["attempts"] == [1]
    finally:
        await redis.aclose()


def test_runners_are_counted_by_the_pool_their_streams_tell() -> None:
    """A pool is known by what its runners read: high+normal notification, low exploration, all three hybrid."""
    reads = {"a": {"high", "normal"}, "b": {"low"}, "c": {"high", "normal", "low"}, "d": {"high"}}
    assert _pools(reads) == {"notification": ["a"], "exploration": ["b"], "hybrid": ["c"], "other": ["d"]}

"""The operator's HTTP routes on the metrics function's app: bearer auth, 404s, each control audited once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import flask
import functions_framework
import pytest
import redis as sync_redis

from local_emulator.hub import MockHubServer
from shared.runtime import load_factory
from shared.serving import FunctionTarget, events_token, install_operator_routes
from shared.settings import Settings
from tests.support import ROOT

TOKEN = "operator-token-0123"
CONTROLS = ["/agents/alice/pause", "/agents/alice/resume", "/agents/alice/breaker/reset", "/activations/evt-1/cancel"]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    client = sync_redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(redis_url)
    client.hset(f"{prefix}:poller:agents", "id-alice", "alice")
    opened = {"state": "open", "failures": "5", "open_until": str(time.time() + 600)}
    client.hset(f"{prefix}:breaker:id-alice", mapping=opened)
    client.hset(f"{prefix}:transcript:evt-1:attempts", "1", "1.0")
    yield client
    client.close()


@pytest.fixture
def app(redis_url: str, prefix: str, server: MockHubServer) -> Iterator[flask.Flask]:
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": prefix,
            "HUB_URL": server.url,
            "HUB_API_KEY": "botburrow-local",
            "OPERATOR_TOKEN": TOKEN,
        }
    )
    target = FunctionTarget(
        name="metrics",
        settings=settings,
        factory=load_factory("functions.runner.noop:handler"),
        auth=events_token(settings),
    )
    app = flask.Flask("operator-test")
    install_operator_routes(app, target)
    yield app
    target.close()


def audit(store: sync_redis.Redis, prefix: str) -> list[dict[bytes, bytes]]:
    return [fields for _id, fields in store.xrange(f"{prefix}:audit")]


def test_every_control_without_the_token_is_401_and_changes_nothing(
    app: flask.Flask, store: sync_redis.Redis, prefix: str
) -> None:
    client = app.test_client()
    for path in CONTROLS:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = client.post(path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert answer.get_json()["error"] == "unauthenticated"
            assert TOKEN not in answer.get_data(as_text=True)
    for path in ("/api/agents", "/api/agents/alice", "/api/audit"):
        assert client.get(path).status_code == 401
    assert audit(store, prefix) == []
    assert not store.exists(f"{prefix}:paused") and not store.exists(f"{prefix}:cancel:evt-1")
    assert store.hget(f"{prefix}:breaker:id-alice", "state") == b"open"


def test_with_the_token_each_control_lands_once_in_the_audit_with_who_and_when(
    app: flask.Flask, store: sync_redis.Redis, prefix: str
) -> None:
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    listed = client.get("/api/agents", headers=bearer).get_json()["agents"]
    assert [(a["name"], a["breaker"]["state"]) for a in listed] == [("alice", "open")]

    answers = [client.post(path, headers={**bearer, "X-Operator": "ann"}) for path in CONTROLS]

    assert [a.status_code for a in answers] == [200] * 4
    entries = audit(store, prefix)
    assert [(e[b"action"], e[b"target"]) for e in entries] == [
        (b"pause", b"alice"),
        (b"resume", b"alice"),
        (b"breaker_reset", b"alice"),
        (b"cancel", b"evt-1"),
    ]
    assert {e[b"who"] for e in entries} == {b"http:ann"}
    assert all(e[b"at"] for e in entries)
    assert not store.exists(f"{prefix}:breaker:id-alice")
    assert store.exists(f"{prefix}:cancel:evt-1")
    assert client.post("/agents/alice/pause", headers=bearer).get_json()["who"] == "http:operator"
    shown = client.get("/api/agents/alice", headers=bearer).get_json()
    assert shown["paused"] is True and shown["breaker"]["state"] == "closed"
    newest = client.get("/api/audit?limit=2", headers=bearer).get_json()["entries"]
    assert [e["action"] for e in newest] == ["pause", "cancel"]


def test_an_unknown_agent_or_activation_is_a_404_and_is_not_audited(
    app: flask.Flask, store: sync_redis.Redis, prefix: str
) -> None:
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path, error in [
        ("/agents/ghost/pause", "unknown_agent"),
        ("/activations/evt-ghost/cancel", "unknown_activation"),
    ]:
        answer = client.post(path, headers=bearer)
        assert (answer.status_code, answer.get_json()["error"]) == (404, error)
    assert client.get("/api/agents/ghost", headers=bearer).status_code == 404
    assert audit(store, prefix) == []


def test_the_metrics_function_app_has_the_operator_routes(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    for variable, value in {
        "REDIS_URL": redis_url,
        "HUB_API_KEY": "botburrow-local",
        "FUNCTION_TARGET": "metrics",
        "FUNCTION_SIGNATURE_TYPE": "cloudevent",
    }.items():
        monkeypatch.setenv(variable, value)
    app = functions_framework.create_app(target="metrics", source=str(ROOT / "functions" / "metrics" / "main.py"))
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/api/agents", "/api/agents/<name>", "/api/audit", "/agents/<name>/breaker/reset"} <= rules
    answer = app.test_client().post("/agents/alice/pause")  # no OPERATOR_TOKEN configured: refuses every request
    assert answer.status_code == 401 and "OPERATOR_TOKEN" in answer.get_json()["problem"]

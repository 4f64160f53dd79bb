"""Pushed events are authenticated before they are parsed: 401 with a JSON body, nothing queued, probes open."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_emulator.hub import MockHub
from shared.events import Priority, notification_created, to_http
from shared.serving import PushAuth
from shared.settings import Secret
from shared.signing import SIGNATURE_HEADER, Verdict, signature
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import AGENTS, write_agent
from tests.shared.serving.conftest import EVENTS_TOKEN, ServeFunction, ServeRunner
from tests.support import ROOT, handlers

INGEST_SOURCE = ROOT / "functions" / "poller" / "ingest.py"
WEBHOOK_SECRET = "PRIVATE-WEBHOOK-SECRET"
INGEST_TOKEN = "PRIVATE-INGEST-TOKEN"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def hub_agents() -> list[str]:
    return list(AGENTS)


async def queued(redis: Redis, keys: StreamKeys) -> int:
    return sum([await redis.xlen(keys.activations(p)) for p in Priority])


def test_a_policy_accepts_only_what_it_was_given() -> None:
    body = b'{"agent_id": "alice"}'
    both = PushAuth(name="t", signature_secret=Secret("s"), bearer_token=Secret("t"))
    assert both.check(body, signature=signature("s", body), authorization=None) is Verdict.OK
    assert both.check(body, signature=None, authorization="Bearer t") is Verdict.OK
    assert both.check(body, signature=signature("s", b"other"), authorization=None) is Verdict.MISMATCH
    assert both.check(body, signature=None, authorization="Bearer x") is Verdict.MISMATCH
    assert both.check(body, signature=None, authorization=None) is Verdict.MISSING
    bearer_only = PushAuth(name="t", bearer_token=Secret("t"))
    assert bearer_only.check(body, signature=signature("s", body), authorization=None) is Verdict.MISSING
    nothing = PushAuth(name="t", settings_named="X")
    assert not nothing.configured
    assert nothing.check(body, signature="sha256=", authorization="Bearer ") is Verdict.MISSING


async def test_the_runner_target_refuses_a_push_without_its_token_and_keeps_the_probes_open(
    serve_runner: ServeRunner, redis: Redis, keys: StreamKeys
) -> None:
    served = serve_runner()
    event = notification_created(at=NOW, agent_id="alice", notification={"agent_id": "alice"})
    headers, body = to_http(event, binary=True)
    handlers.SEEN.clear()
    async with served.client(authenticated=False) as http:
        for extra in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {EVENTS_TOKEN}"}):
            refused = await http.post("/", headers={**headers, **extra}, content=body)
            assert refused.status_code == 401, refused.text
            assert refused.headers["content-type"] == "application/json"
            assert refused.json()["error"] == "unauthenticated"
            assert EVENTS_TOKEN not in refused.text
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        assert "botburrow_http_requests_total" in (await http.get("/metrics")).text
    assert handlers.SEEN == [], "the handler never ran"
    assert await redis.xlen(keys.results) == 0


async def test_a_target_whose_token_is_unset_refuses_every_push_naming_the_setting(
    serve_runner: ServeRunner, redis: Redis, keys: StreamKeys
) -> None:
    served = serve_runner(EVENTS_TOKEN="")
    event = notification_created(at=NOW, agent_id="alice", notification={"agent_id": "alice"})
    headers, body = to_http(event, binary=True)
    async with served.client(authenticated=False) as http:
        for authorization in ("", "Bearer", "Bearer anything"):
            refused = await http.post("/", headers={**headers, "authorization": authorization}, content=body)
            assert refused.status_code == 401
            assert "EVENTS_TOKEN" in refused.json()["problem"]
    assert await redis.xlen(keys.results) == 0


@pytest.fixture
def ingest(serve_function: ServeFunction, tmp_path: Path) -> ServeFunction:
    for name, behavior in AGENTS.items():
        write_agent(tmp_path, name, behavior)

    def start(**env: str) -> object:
        full = {"HUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "INGEST_TOKEN": INGEST_TOKEN, "AGENTS_DIR": str(tmp_path)}
        return serve_function(INGEST_SOURCE, "ingest", **{**full, **env})

    return start


async def test_ingest_queues_a_signed_push_or_one_with_the_token_and_nothing_else(
    ingest: ServeFunction, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    served = ingest()
    hub.add_notification("alice", "dm", content="psst")
    hub.add_notification("carol", "dm", content="psst")
    alice = notification_created(at=NOW, agent_id="alice", notification={"agent_id": "alice"})
    headers, body = to_http(alice, binary=True)
    async with served.client() as http:
        unsigned = await http.post("/", headers=headers, content=body)
        forged = await http.post(
            "/", headers={**headers, SIGNATURE_HEADER: signature(WEBHOOK_SECRET, body + b" ")}, content=body
        )
        other_secret = await http.post(
            "/", headers={**headers, SIGNATURE_HEADER: signature("guess", body)}, content=body
        )
        # A malformed body that is not signed is refused as unsigned, never parsed (no 400).
        garbage = await http.post("/", headers={"content-type": "application/cloudevents+json"}, content=b"{")
        for refused in (unsigned, forged, other_secret, garbage):
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "unauthenticated"
            assert WEBHOOK_SECRET not in refused.text and INGEST_TOKEN not in refused.text
        assert "X-Hub-Signature-256" in unsigned.json()["problem"]
        assert forged.json()["problem"] == "the signature or token does not match"
        assert await queued(redis, keys) == 0, "nothing queued by a refused push"

        signed = await http.post(
            "/", headers={**headers, SIGNATURE_HEADER: signature(WEBHOOK_SECRET, body)}, content=body
        )
        assert signed.status_code == 200, signed.text
        assert await queued(redis, keys) == 1
        carol = notification_created(at=NOW, agent_id="carol", notification={"agent_id": "carol"})
        headers, body = to_http(carol, binary=False)
        with_token = await http.post("/", headers={**headers, "authorization": f"Bearer {INGEST_TOKEN}"}, content=body)
        assert with_token.status_code == 200, with_token.text
        assert await queued(redis, keys) == 2


async def test_ingest_without_a_secret_or_token_refuses_even_a_signed_push(
    ingest: ServeFunction, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    served = ingest(HUB_WEBHOOK_SECRET="", INGEST_TOKEN="")
    hub.add_notification("alice", "dm", content="psst")
    headers, body = to_http(notification_created(at=NOW, agent_id="alice", notification={}), binary=True)
    async with served.client() as http:
        for sent in ({SIGNATURE_HEADER: signature("", body)}, {"authorization": "Bearer x"}, {}):
            refused = await http.post("/", headers={**headers, **sent}, content=body)
            assert refused.status_code == 401
            assert "HUB_WEBHOOK_SECRET or INGEST_TOKEN" in refused.json()["problem"]
    assert await queued(redis, keys) == 0

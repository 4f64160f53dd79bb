"""The definitions function over HTTP: the signed webhook bumps versions, POST / takes the tick only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from shared.definitions import DEFINITIONS_CHANGED, Invalidation, definitions_changed
from shared.events import ping, to_http
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Redis, StreamKeys
from tests.functions.definitions.conftest import WEBHOOK_SECRET, ServeDefinitions
from tests.support import eventually, free_port
from tests.support.git import Repo
from tests.support.s3 import admin_client, moto_server

PUSH = orjson.dumps(
    {
        "ref": "refs/heads/main",
        "commits": [{"added": [], "modified": ["agents/nova/system-prompt.md"], "removed": []}],
    }
)


def github(body: bytes, *, event: str = "push", secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        SIGNATURE_HEADER: signature(secret, body),
    }


async def versions(redis: Redis, keys: StreamKeys) -> dict[bytes, bytes]:
    return await redis.hgetall(f"{keys.prefix}:agents:versions")


async def versions_are(redis: Redis, keys: StreamKeys, expected: dict[bytes, bytes]) -> bool:
    return await versions(redis, keys) == expected


async def test_a_signed_push_bumps_the_agents_it_touched(
    serve_definitions: ServeDefinitions, redis: Redis, keys: StreamKeys
) -> None:
    served = serve_definitions()
    async with served.client() as http:
        answer = await http.post("/webhook", content=PUSH, headers=github(PUSH))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "event": "push",
            "all": False,
            "agents": ["nova"],
            "reason": "paths of the pushed commits",
        }
        assert await versions(redis, keys) == {b"nova": b"1"}
        everything = b'{"all": true}'
        answer = await http.post(
            "/webhook", content=everything, headers={SIGNATURE_HEADER: signature(WEBHOOK_SECRET, everything)}
        )
        assert answer.status_code == 200 and answer.json()["all"] is True
        assert await versions(redis, keys) == {b"nova": b"1", b"*": b"1"}
        exposition = (await http.get("/metrics")).text
    assert 'botburrow_http_requests_total{route="/webhook",status="200"} 2.0' in exposition


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": "push"},
        github(PUSH, secret="not-the-secret"),
        {**github(PUSH), SIGNATURE_HEADER: signature(WEBHOOK_SECRET, PUSH + b" ")},
    ],
    ids=["unsigned", "wrong-secret", "another-body"],
)
async def test_a_bad_signature_is_401_and_invalidates_nothing(
    serve_definitions: ServeDefinitions, redis: Redis, keys: StreamKeys, headers: dict[str, str]
) -> None:
    served = serve_definitions()
    async with served.client() as http:
        answer = await http.post("/webhook", content=PUSH, headers=headers)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert WEBHOOK_SECRET not in answer.text
    assert await versions(redis, keys) == {}


async def test_without_a_secret_configured_every_request_is_refused(
    serve_definitions: ServeDefinitions, redis: Redis, keys: StreamKeys
) -> None:
    served = serve_definitions(DEFINITIONS_WEBHOOK_SECRET="")
    async with served.client() as http:
        answer = await http.post("/webhook", content=PUSH, headers=github(PUSH, secret=""))
    assert answer.status_code == 401
    assert await versions(redis, keys) == {}


async def test_a_ping_is_200_and_a_body_that_is_not_json_is_400(
    serve_definitions: ServeDefinitions, redis: Redis, keys: StreamKeys
) -> None:
    served = serve_definitions()
    async with served.client() as http:
        hello = b'{"zen": "Design for failure.", "hook_id": 42}'
        answer = await http.post("/webhook", content=hello, headers=github(hello, event="ping"))
        assert answer.status_code == 200 and answer.json()["event"] == "ping"
        garbage = b"modified=agents/nova"
        answer = await http.post("/webhook", content=garbage, headers=github(garbage))
        assert answer.status_code == 400
        body = answer.json()
        assert body["error"] == "invalid_body" and body["field"] == "body" and body["problem"].startswith("not JSON")
    assert await versions(redis, keys) == {}


async def test_post_slash_takes_the_tick_only_so_an_unsigned_change_cannot_sneak_in(
    serve_definitions: ServeDefinitions, redis: Redis, keys: StreamKeys
) -> None:
    served = serve_definitions()
    async with served.client() as http:
        headers, body = to_http(definitions_changed(Invalidation(everything=True)), binary=True)
        answer = await http.post("/", content=body, headers=headers)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == "type" and DEFINITIONS_CHANGED not in answer.json()["problem"]
        headers, body = to_http(ping(at=datetime.now(UTC)), binary=True)
        answer = await http.post("/", content=body, headers=headers)
        assert answer.status_code == 200, answer.text  # no SYNC_SOURCES: the tick has nothing to do
    assert await versions(redis, keys) == {}


async def test_a_tick_syncs_the_sources_into_the_bucket(
    serve_definitions: ServeDefinitions, redis: Redis, keys: StreamKeys, tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "defs")
    repo.write("skills/hub-post/SKILL.md", "---\nname: hub-post\ndescription: Post to the Hub\n---\nPost.\n")
    repo.commit("one skill")
    with moto_server() as endpoint:
        admin_client(endpoint).create_bucket(Bucket="agent-definitions")
        served = serve_definitions(
            SYNC_SOURCES=str(repo.path),
            R2_ENDPOINT=endpoint,
            R2_ACCESS_KEY_ID="testing",
            R2_SECRET_ACCESS_KEY="testing-secret",
            R2_BUCKET="agent-definitions",
        )
        admin = admin_client(endpoint)

        def listed() -> list[str]:
            return [o["Key"] for o in admin.list_objects_v2(Bucket="agent-definitions").get("Contents", [])]

        async with served.client() as http:
            headers, body = to_http(ping(at=datetime.now(UTC)), binary=True)
            answer = await http.post("/", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert listed() == ["skills/hub-post/SKILL.md"]
            assert await versions(redis, keys) == {b"*": b"1"}

            # a push: the agents it names are invalidated at once, and a sync starts behind the answer
            repo.write("skills/hub-search/SKILL.md", "---\nname: hub-search\ndescription: Search\n---\nSearch.\n")
            repo.commit("another skill")
            push = orjson.dumps({"commits": [{"added": ["skills/hub-search/SKILL.md"]}]})
            answer = await http.post("/webhook", content=push, headers=github(push))
            assert answer.status_code == 200 and answer.json()["all"] is True
            await eventually(lambda: "skills/hub-search/SKILL.md" in listed(), timeout_s=20, every_s=0.1)
            await eventually(lambda: versions_are(redis, keys, {b"*": b"3"}))  # the push's bump, then the sync's
            exposition = (await http.get("/metrics")).text
    assert 'botburrow_definitions_syncs_total{result="ok"} 2.0' in exposition
    assert 'botburrow_definitions_objects_total{action="uploaded"} 2.0' in exposition
    assert 'botburrow_definitions_invalidations_total{scope="all"} 3.0' in exposition


async def test_with_redis_down_a_signed_push_is_503_so_github_shows_a_failed_delivery(
    serve_definitions: ServeDefinitions,
) -> None:
    served = serve_definitions(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    async with served.client() as http:
        answer = await http.post("/webhook", content=PUSH, headers=github(PUSH))
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"error": "transient", "kind": "StreamUnavailable"}

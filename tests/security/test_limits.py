"""Oversized bodies are refused with a 413 JSON body at the documented limit, on every HTTP target."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.gateway import Gateway
from shared.streams import StreamKeys
from tests.security.test_fuzz_functions import ServeFn, hub_agents, serve  # noqa: F401 (fixtures)

LIMIT = 4096
TARGETS = [
    ("runner/main.py", "runner", "/"),
    ("poller/main.py", "poller", "/"),
    ("poller/ingest.py", "ingest", "/"),
    ("metrics/main.py", "metrics", "/"),
    ("metrics/main.py", "metrics", "/agents/alice/pause"),
    ("definitions/main.py", "definitions", "/"),
    ("definitions/main.py", "definitions", "/webhook"),
]
ASGI_TARGETS = [("runner/main.py", "runner", "/"), ("poller/ingest.py", "ingest", "/")]
JSON = {"content-type": "application/json"}


def refused_at_the_limit(status: int, body: dict[str, object]) -> None:
    assert status == 413, body
    assert body["error"] == "body_too_large" and body["limit_bytes"] == LIMIT
    assert "MAX_BODY_BYTES" in str(body["problem"])


@pytest.mark.parametrize(("source", "target", "path"), TARGETS)
async def test_a_body_over_max_body_bytes_is_a_413_before_anything_reads_it(
    serve: ServeFn,  # noqa: F811 (the fixture)
    keys: StreamKeys,
    source: str,
    target: str,
    path: str,
) -> None:
    """One byte over MAX_BODY_BYTES: 413 naming the limit, before auth; at the limit it is read as usual."""
    served = serve(source, target, MAX_BODY_BYTES=str(LIMIT), EVENTS_TOKEN="t", INGEST_TOKEN="t", OPERATOR_TOKEN="t")

    def post() -> tuple[httpx.Response, int]:
        client = served.app.test_client()
        over = client.post(path, data=b"x" * (LIMIT + 1), headers=JSON)
        at = client.post(path, data=b"x" * LIMIT, headers=JSON)
        return over, at.status_code

    over, at = await asyncio.to_thread(post)
    refused_at_the_limit(over.status_code, over.get_json())
    assert at != 413 and at < 500


@pytest.mark.parametrize(("source", "target", "path"), ASGI_TARGETS)
async def test_the_asgi_front_refuses_a_declared_or_a_chunked_body_over_the_limit(
    serve: ServeFn,  # noqa: F811 (the fixture)
    source: str,
    target: str,
    path: str,
) -> None:
    """Over real HTTP to uvicorn: a Content-Length over the limit, then a chunked body passing it, are 413s."""
    served = serve(
        source, target, front="asgi", MAX_BODY_BYTES=str(LIMIT), EVENTS_TOKEN="t", INGEST_TOKEN="t", OPERATOR_TOKEN="t"
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 1):
            yield b"x" * 1024

    async with served.client(authenticated=False) as client:
        over = await client.post(path, content=b"x" * (LIMIT + 1), headers=JSON)
        chunked = await client.post(path, content=chunks(), headers=JSON)
        at = await client.post(path, content=b"x" * LIMIT, headers=JSON)
    assert "chunked" in chunked.request.headers.get("transfer-encoding", "")
    for refused in (over, chunked):
        refused_at_the_limit(refused.status_code, refused.json())
    assert at.status_code not in (413, 500)


async def test_the_gateway_refuses_a_body_over_its_limit_in_each_providers_shape() -> None:
    """GATEWAY_MAX_BODY_BYTES: 413 on every route before the token is even looked at, as the SDKs read it."""
    async with Gateway(max_body_bytes=LIMIT) as gateway, httpx.AsyncClient(base_url=gateway.url) as http:
        big = b"x" * (LIMIT + 1)
        anthropic = await http.post("/v1/messages", content=big)
        openai = await http.post("/v1/chat/completions", content=big)
        mcp = await http.post("/mcp/hub", content=big)

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b"x" * 1024

        chunked = await http.post("/v1/messages", content=chunks())
        small = await http.post("/v1/messages", content=b"{}")
    assert anthropic.status_code == 413 and anthropic.json()["error"]["type"] == "request_too_large"
    assert openai.status_code == 413 and openai.json()["error"]["type"] == "request_too_large"
    assert mcp.status_code == 413 and mcp.json()["limit_bytes"] == LIMIT
    assert chunked.status_code in (401, 413), "a chunked body: refused unread (bad token) or at the limit"
    assert small.status_code == 401, "under the limit, the token is checked as usual"

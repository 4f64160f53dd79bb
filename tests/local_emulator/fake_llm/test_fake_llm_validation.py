"""The fake refuses what the real APIs refuse, in each API's error shape."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from local_emulator.fake_llm import FakeLLMServer

from .conftest import ANTHROPIC_HEADERS, post

TOOL = {"name": "search", "input_schema": {"type": "object"}}
USE = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found"}


def claude(messages: list[Any], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": messages, "tools": [TOOL], **extra}


GOOD_CLAUDE = claude(
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": [RESULT]}]
)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Field required"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        (claude([]), "at least one message"),
        (claude([{"role": "assistant", "content": "x"}]), 'first message must use the "user" role'),
        (claude([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]), "roles must alternate"),
        (
            claude([{"role": "user", "content": [{"type": "text", "text": ""}]}]),
            "text content blocks must be non-empty",
        ),
        (claude([{"role": "user", "content": ""}]), "non-empty content"),
        (claude([{"role": "user", "content": [RESULT]}]), "unexpected `tool_use_id`"),
        (
            claude([{"role": "user", "content": "a"}, {"role": "assistant", "content": [USE]}]),
            "`tool_use` ids were found without `tool_result` blocks",
        ),
        (
            claude(
                [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [USE]},
                    {"role": "user", "content": [RESULT, RESULT]},
                ]
            ),
            "unexpected `tool_use_id`",
        ),
        (
            {**GOOD_CLAUDE, "tools": [{"name": "other", "input_schema": {"type": "object"}}]},
            "tool_use name 'search' is not among the tools",
        ),
        ({k: v for k, v in GOOD_CLAUDE.items() if k != "tools"}, "must define tools"),
        (claude([{"role": "user", "content": "x"}], tools=[{"name": "t"}]), "input_schema: Field required"),
        (
            claude(
                [{"role": "user", "content": "x"}], tools=[{"name": "bad name", "input_schema": {"type": "object"}}]
            ),
            "pattern",
        ),
        (claude([{"role": "user", "content": "x"}], tools=[TOOL, TOOL]), "Tool names must be unique"),
        (claude([{"role": "user", "content": "x"}], temperature=1.5), "temperature"),
        (claude([{"role": "user", "content": "x"}], system=[{"type": "image"}]), "system.0"),
        (claude([{"role": "user", "content": "x"}], top_k_typo=3), "top_k_typo: Extra inputs are not permitted"),
        (claude([{"role": "user", "content": [{"type": "tool_use", **USE}]}]), "not allowed in a user message"),
        (
            claude(
                [{"role": "user", "content": "x"}],
                system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}] * 5,
            ),
            "A maximum of 4 blocks with cache_control",
        ),
    ],
)
async def test_anthropic_protocol_mistakes_are_400s(
    fake: FakeLLMServer, http: aiohttp.ClientSession, body: dict[str, Any], problem: str
) -> None:
    status, data, headers = await post(http, f"{fake.url}/v1/messages", body)
    assert status == 400, data
    assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
    assert problem in data["error"]["message"]
    assert headers["request-id"].startswith("req_")


async def test_a_well_formed_anthropic_exchange_passes(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    status, data, _ = await post(http, f"{fake.url}/v1/messages", GOOD_CLAUDE)
    assert status == 200 and data["type"] == "message" and data["stop_reason"] == "end_turn"
    assert set(data["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }


@pytest.mark.parametrize(
    ("headers", "status", "problem"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "x-api-key header is required"),
        ({"x-api-key": "k"}, 400, "anthropic-version: header is required"),
        ({"authorization": "Bearer k", "anthropic-version": "2023-06-01"}, 200, None),
    ],
)
async def test_anthropic_headers(
    fake: FakeLLMServer, http: aiohttp.ClientSession, headers: dict[str, str], status: int, problem: str | None
) -> None:
    got, data, _ = await post(http, f"{fake.url}/v1/messages", claude([{"role": "user", "content": "x"}]), headers)
    assert got == status
    if problem:
        assert problem in data["error"]["message"]


def gpt(messages: list[Any], **extra: Any) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    return {"model": "gpt-4o-mini", "messages": messages, "tools": tools, **extra}


CALL = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "you must provide a model parameter"),
        (gpt([]), "Expected an array with minimum length 1"),
        (
            gpt([{"role": "tool", "tool_call_id": "call_1", "content": "x"}]),
            "must be a response to a preceeding message",
        ),
        (
            gpt(
                [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    {"role": "tool", "tool_call_id": "call_9", "content": "x"},
                ]
            ),
            "must be a response to a preceeding message",
        ),
        (
            gpt([{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}]),
            "did not have response messages: call_1",
        ),
        (
            gpt(
                [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    {"role": "user", "content": "y"},
                    {"role": "tool", "tool_call_id": "call_1", "content": "x"},
                ]
            ),
            "did not have response messages: call_1",
        ),
        (gpt([{"role": "tool", "content": "x"}]), "tool_call_id"),
        (gpt([{"role": "user", "content": "x"}, {"role": "assistant", "content": None}]), "got null"),
        (gpt([{"role": "wizard", "content": "x"}]), "role"),
        (gpt([{"role": "user", "content": "x"}], stream_options={"include_usage": True}), "only allowed when 'stream'"),
        (gpt([{"role": "user", "content": "x"}], temperature=3), "temperature"),
        (gpt([{"role": "user", "content": "x"}], max_tokens=0), "max_tokens"),
        (
            gpt([{"role": "user", "content": "x"}], frobnicate=True),
            "Unrecognized request argument supplied: frobnicate",
        ),
        (
            gpt(
                [{"role": "user", "content": "x"}],
                tools=[{"type": "function", "function": {"name": "has space"}}],
            ),
            "does not match pattern",
        ),
    ],
)
async def test_openai_protocol_mistakes_are_400s(
    fake: FakeLLMServer, http: aiohttp.ClientSession, body: dict[str, Any], problem: str
) -> None:
    status, data, _ = await post(http, f"{fake.openai_base_url}/chat/completions", body)
    assert status == 400, data
    assert data["error"]["type"] == "invalid_request_error"
    assert problem in data["error"]["message"]


async def test_a_missing_bearer_is_a_401(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    status, data, _ = await post(http, f"{fake.openai_base_url}/chat/completions", gpt([]), headers={})
    assert status == 401 and data["error"]["code"] == "missing_api_key"


async def test_a_body_that_is_not_json_is_a_400(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{fake.url}/v1/messages", data=b"{not json", headers=ANTHROPIC_HEADERS) as response:
        assert response.status == 400
        assert "not valid JSON" in (await response.json())["error"]["message"]


async def test_models_and_health(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/healthz") as response:
        assert response.status == 200 and (await response.json()) == {"status": "ok"}
    async with http.get(f"{fake.openai_base_url}/models", headers={"Authorization": "Bearer k"}) as response:
        listing = await response.json()
        assert listing["object"] == "list" and all(m["object"] == "model" for m in listing["data"])
    async with http.get(f"{fake.url}/v1/models", headers=ANTHROPIC_HEADERS) as response:
        listing = await response.json()
        assert listing["has_more"] is False and all(m["type"] == "model" for m in listing["data"])

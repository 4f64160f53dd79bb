"""Scripts: selection rules, stateless steps, attempts per conversation, latency, the default voice, files."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from local_emulator.fake_llm import (
    Fail,
    FakeLLMServer,
    Script,
    Step,
    ToolCall,
    agent_name,
    default_reply,
    load_script_file,
)
from tests.support import FIXTURES, eventually, require

from .conftest import post

TOOLS = [{"name": "search", "input_schema": {"type": "object"}}]
HELLO = Script(name="hello", steps=[Step(text="hello from the script")])
SEARCH = Script(name="search-twice", steps=[Step(tool_calls=[ToolCall(name="search", input={"q": "a"})])])


def body(text: str, *, system: str | None = None, model: str = "claude-haiku-4-5", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}], **extra}
    if system is not None:
        out["system"] = system
    return out


async def text_of(http: aiohttp.ClientSession, fake: FakeLLMServer, payload: dict[str, Any]) -> str:
    status, data, _ = await post(http, f"{fake.url}/v1/messages", payload)
    assert status == 200, data
    return "".join(b.get("text", "") for b in data["content"])


async def test_a_marker_in_the_system_prompt_or_first_message_picks_the_script(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    fake.add_script(HELLO)
    assert await text_of(http, fake, body("hi", system="You are x. [[script:hello]]")) == "hello from the script"
    assert await text_of(http, fake, body("[[script:hello]] hi")) == "hello from the script"
    assert await text_of(http, fake, body("hi", model="hello")) == "hello from the script"
    assert [r.script for r in fake.requests] == ["hello"] * 3


async def test_an_unknown_script_is_a_400(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    status, data, _ = await post(http, f"{fake.url}/v1/messages", body("[[script:nope]]"))
    assert status == 400 and "no script named 'nope'" in data["error"]["message"]


async def test_without_a_script_the_agent_answers_in_its_own_voice(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    reply = await text_of(http, fake, body("Can you review PR 12?", system="# Dev\n\nYou are devops-agent, a helper."))
    assert reply == default_reply("You are devops-agent, a helper.", "Can you review PR 12?")
    assert reply.startswith("devops-agent here.") and "Can you review PR 12?" in reply
    again = await text_of(http, fake, body("Can you review PR 12?", system="# Dev\n\nYou are devops-agent, a helper."))
    assert again == reply


async def test_a_configured_default_script_answers_unmarked_requests(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(scripts=[HELLO], default_script="hello") as fake:
        assert await text_of(http, fake, body("anything")) == "hello from the script"
    with pytest.raises(ValueError, match="not registered"):
        FakeLLMServer(default_script="missing")


async def test_the_step_follows_the_assistant_turns_and_ends_in_a_plain_reply(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    fake.add_script(SEARCH)
    url = f"{fake.url}/v1/messages"
    first = body("[[script:search-twice]] go", tools=TOOLS)
    _, reply, _ = await post(http, url, first)
    assert reply["stop_reason"] == "tool_use"
    use = reply["content"][0]
    second = {
        **first,
        "messages": [
            *first["messages"],
            {"role": "assistant", "content": reply["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "42"}]},
        ],
    }
    _, after, _ = await post(http, url, second)
    assert after["stop_reason"] == "end_turn" and "42" in after["content"][0]["text"]
    assert [r.step for r in fake.requests] == [0, 1]


async def test_the_same_request_gets_the_same_answer(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    fake.add_script(SEARCH)
    payload = body("[[script:search-twice]] go", tools=TOOLS)
    _, a, _ = await post(http, f"{fake.url}/v1/messages", payload)
    _, b, _ = await post(http, f"{fake.url}/v1/messages", payload)
    _, c, _ = await post(http, f"{fake.url}/v1/messages", body("[[script:search-twice]] other", tools=TOOLS))
    assert a == b
    assert a["content"][0]["id"] != c["content"][0]["id"]
    assert [r.attempt for r in fake.requests] == [1, 2, 1]


async def test_fail_times_counts_attempts_per_conversation(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    fake.add_script(Script(name="once", steps=[Step(text="ok", fail=Fail(kind="server_error"), fail_times=1)]))
    url = f"{fake.url}/v1/messages"
    results = [(await post(http, url, body(f"[[script:once]] {who}")))[0] for who in ("a", "a", "b", "b")]
    assert results == [500, 200, 500, 200]
    fake.reset()
    assert fake.requests == []
    assert (await post(http, url, body("[[script:once]] a")))[0] == 500


async def test_a_step_calling_a_tool_the_request_does_not_offer_is_a_400(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    fake.add_script(SEARCH)
    status, data, _ = await post(http, f"{fake.url}/v1/messages", body("[[script:search-twice]]"))
    assert status == 400 and "calls tool 'search', but the request offers []" in data["error"]["message"]


async def test_latency_is_applied(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    fake.add_script(Script(name="slow", steps=[Step(text="late", delay_s=0.25)]))
    started = time.monotonic()
    assert await text_of(http, fake, body("[[script:slow]]")) == "late"
    assert time.monotonic() - started >= 0.25


async def test_stopping_the_server_ends_a_hanging_request_quickly(http: aiohttp.ClientSession) -> None:
    fake = await FakeLLMServer(scripts=[Script(name="stuck", steps=[Step(fail=Fail(kind="hang"))])]).start()
    pending = asyncio.create_task(post(http, f"{fake.url}/v1/messages", body("[[script:stuck]]")))
    await eventually(lambda: fake.requests)  # it has the request, and holds it
    assert not pending.done()
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 2
    status, _, _ = await pending
    assert status == 503


async def test_the_anthropic_stream_is_server_sent_events_the_sdk_can_parse(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    fake.add_script(
        Script(name="s", steps=[Step(text="two words", tool_calls=[ToolCall(name="search", input={"q": "x" * 40})])])
    )
    payload = body("[[script:s]]", tools=TOOLS, stream=True)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with http.post(f"{fake.url}/v1/messages", json=payload, headers=headers) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = (await response.read()).decode()
    events = [block.split("\n") for block in raw.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert all(lines[0].startswith("event: ") and lines[1].startswith("data: ") for lines in events)
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    datas = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
    assert all(d["type"] == n for d, n in zip(datas, names, strict=True))
    partial = "".join(d["delta"]["partial_json"] for d in datas if d.get("delta", {}).get("type") == "input_json_delta")
    assert json.loads(partial) == {"q": "x" * 40}
    assert datas[-2]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("include_usage", [True, False])
async def test_the_openai_stream_is_data_lines_ending_in_done(
    fake: FakeLLMServer, http: aiohttp.ClientSession, include_usage: bool
) -> None:
    payload: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    if include_usage:
        payload["stream_options"] = {"include_usage": True}
    async with http.post(
        f"{fake.openai_base_url}/chat/completions", json=payload, headers={"Authorization": "Bearer k"}
    ) as r:
        lines = [line for line in (await r.read()).decode().split("\n\n") if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    usage_chunks = [c for c in chunks if not c["choices"]]
    assert len(usage_chunks) == (1 if include_usage else 0)
    if include_usage:
        assert usage_chunks[0]["usage"]["completion_tokens"] > 0


def test_agent_names_come_from_the_real_system_prompts() -> None:
    agents = FIXTURES / "agent-definitions" / "agents"
    require(agents.is_dir(), f"fixtures not found at {agents}")
    names = {d.name: agent_name((d / "system-prompt.md").read_text()) for d in agents.iterdir() if d.is_dir()}
    assert names["claude-coder-1"] == "claude-coder-1"
    assert names["devops-agent"] == "devops-agent"
    assert names["sprint-coder"] == "Sprint Coder"
    assert names["test-persona-agent"] == "test-persona-agent"
    assert agent_name("# Helper Bot\n\nBe nice.") == "Helper Bot"
    assert agent_name("") == "an agent"


def test_scripts_load_from_yaml_and_json(tmp_path: Path) -> None:
    many = tmp_path / "scripts.yaml"
    many.write_text(
        "default: chatty\n"
        "scripts:\n"
        "  - name: chatty\n"
        "    steps:\n"
        "      - text: hi\n"
        "        usage: {input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 3}\n"
        "  - name: flaky\n"
        "    steps:\n"
        "      - {text: ok, fail: {kind: rate_limit, retry_after_s: 1}, fail_times: 2}\n"
    )
    loaded = load_script_file(many)
    assert loaded.default == "chatty"
    assert (
        loaded.scripts[0].steps[0].usage is not None and loaded.scripts[0].steps[0].usage.cache_read_input_tokens == 3
    )
    assert loaded.scripts[1].steps[0].fails_on(2) and not loaded.scripts[1].steps[0].fails_on(3)
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"name": "solo", "steps": [{"tool_calls": [{"name": "search", "input": {"q": 1}}]}]}))
    assert load_script_file(one).scripts[0].steps[0].stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"scripts": [{"name": "x", "steps": [{}]}]}, "needs text or tool_calls"),
        ({"scripts": [{"name": "x", "steps": [{"text": "a", "fail_times": 1}]}]}, "fail_times needs a fail"),
        ({"scripts": [{"name": "x", "steps": [{"fail": {"kind": "teapot"}}]}]}, "kind"),
        ({"scripts": [{"name": "x", "steps": [{"text": "a"}]}], "default": "y"}, "default script 'y'"),
        ({"scripts": [{"name": "x", "steps": [{"text": "a", "colour": "red"}]}]}, "colour"),
    ],
)
def test_a_bad_script_file_says_what_is_wrong(tmp_path: Path, content: dict[str, Any], problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValidationError, match=problem):
        load_script_file(path)

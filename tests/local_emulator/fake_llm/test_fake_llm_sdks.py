"""The real anthropic and openai SDKs against the fake: three-step tool use, streaming or not, and 400s."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from local_emulator.fake_llm import Fail, FakeLLMServer, Script, Step, ToolCall, Usage

ANTHROPIC_TOOLS: list[Any] = [
    {
        "name": "search",
        "description": "Search.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
    {
        "name": "read",
        "description": "Read.",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
]
OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
    }
    for t in ANTHROPIC_TOOLS
]
SCRIPT = Script(
    name="three-step",
    steps=[
        Step(
            tool_calls=[ToolCall(name="search", input={"q": "rust async"})],
            usage=Usage(input_tokens=50, output_tokens=12, cache_creation_input_tokens=900),
        ),
        Step(
            text="Reading the top hit.",
            tool_calls=[ToolCall(name="read", input={"path": "docs/a b.md", "lines": [1, 20], "deep": {"ok": True}})],
            usage=Usage(input_tokens=80, output_tokens=20, cache_read_input_tokens=900),
        ),
        Step(
            text="Rust async is fine. " * 5,
            usage=Usage(input_tokens=120, output_tokens=40, cache_read_input_tokens=900),
        ),
    ],
)


@pytest.fixture
async def scripted(fake: FakeLLMServer) -> FakeLLMServer:
    fake.add_script(SCRIPT)
    return fake


@pytest.fixture
async def claude(fake: FakeLLMServer) -> Any:
    client = anthropic.AsyncAnthropic(api_key="test-key", base_url=fake.anthropic_base_url, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def gpt(fake: FakeLLMServer) -> Any:
    client = openai.AsyncOpenAI(api_key="test-key", base_url=fake.openai_base_url, max_retries=0)
    yield client
    await client.close()


async def claude_turn(client: anthropic.AsyncAnthropic, messages: list[Any], *, stream: bool) -> Any:
    kwargs: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": messages,
        "tools": ANTHROPIC_TOOLS,
    }
    if not stream:
        return await client.messages.create(**kwargs)
    async with client.messages.stream(**kwargs) as events:
        return await events.get_final_message()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_the_anthropic_sdk_completes_a_three_step_tool_exchange(
    scripted: FakeLLMServer, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Tell me about rust async. [[script:three-step]]"}]
    replies = []
    for _ in range(3):
        reply = await claude_turn(claude, messages, stream=stream)
        replies.append(reply)
        messages.append({"role": "assistant", "content": [block.to_dict() for block in reply.content]})
        uses = [b for b in reply.content if b.type == "tool_use"]
        if not uses:
            break
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": b.id, "content": "ok"} for b in uses]}
        )

    assert [r.stop_reason for r in replies] == ["tool_use", "tool_use", "end_turn"]
    assert replies[0].content[0].type == "tool_use" and replies[0].content[0].input == {"q": "rust async"}
    assert replies[1].content[0].text == "Reading the top hit."
    assert replies[1].content[1].input == {"path": "docs/a b.md", "lines": [1, 20], "deep": {"ok": True}}
    assert replies[2].content[0].text == "Rust async is fine. " * 5
    usage = replies[0].usage
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_read_input_tokens,
    ) == (
        50,
        12,
        900,
        0,
    )
    assert replies[2].usage.cache_read_input_tokens == 900 and replies[2].usage.output_tokens == 40
    assert [r.status for r in scripted.calls("/v1/messages")] == [200, 200, 200]
    assert all(r.body.get("stream", False) is stream for r in scripted.calls("/v1/messages"))


async def gpt_turn(client: openai.AsyncOpenAI, messages: list[Any], *, stream: bool) -> tuple[Any, Any, str | None]:
    """One turn: the assistant message as sent back, its usage, and the finish reason."""
    if not stream:
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS)
        first = response.choices[0]
        return first.message.model_dump(exclude_none=True), response.usage, first.finish_reason
    chunks = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS, stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage = "", None, None
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(
                    delta.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] += delta.id or ""
                call["function"]["name"] += (delta.function and delta.function.name) or ""
                call["function"]["arguments"] += (delta.function and delta.function.arguments) or ""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, usage, finish


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_the_openai_sdk_completes_a_three_step_tool_exchange(
    scripted: FakeLLMServer, gpt: openai.AsyncOpenAI, stream: bool
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are a tester. [[script:three-step]]"},
        {"role": "user", "content": "Tell me about rust async."},
    ]
    turns = []
    for _ in range(3):
        message, usage, finish = await gpt_turn(gpt, messages, stream=stream)
        turns.append((message, usage, finish))
        messages.append(message)
        for call in message.get("tool_calls", []):
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": "ok"})
        if finish != "tool_calls":
            break

    assert [finish for _, _, finish in turns] == ["tool_calls", "tool_calls", "stop"]
    first_call = turns[0][0]["tool_calls"][0]
    assert first_call["function"]["name"] == "search"
    assert json.loads(first_call["function"]["arguments"]) == {"q": "rust async"}
    assert json.loads(turns[1][0]["tool_calls"][0]["function"]["arguments"])["deep"] == {"ok": True}
    assert turns[1][0]["content"] == "Reading the top hit."
    assert turns[2][0]["content"] == "Rust async is fine. " * 5
    usage = turns[0][1]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens) == (950, 12, 0)
    assert (turns[1][1].prompt_tokens, turns[1][1].prompt_tokens_details.cached_tokens) == (980, 900)
    assert [r.status for r in scripted.calls("/v1/chat/completions")] == [200, 200, 200]


async def test_a_tool_result_without_its_tool_use_is_a_400(claude: anthropic.AsyncAnthropic) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}]},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude_turn(claude, messages, stream=False)
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert "unexpected `tool_use_id` found in `tool_result` blocks: toolu_nowhere" in str(caught.value.api_message)
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


async def test_an_unanswered_tool_use_is_a_400(claude: anthropic.AsyncAnthropic) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "x"}}
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": "did you find it?"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="`tool_use` ids were found without `tool_result` blocks"):
        await claude_turn(claude, messages, stream=True)


async def test_a_tool_result_after_other_content_is_a_400(claude: anthropic.AsyncAnthropic) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [{"type": "text", "text": "here:"}, result]},
    ]
    with pytest.raises(anthropic.BadRequestError, match="must come before any other content"):
        await claude_turn(claude, messages, stream=False)


async def test_a_tool_message_without_tool_calls_before_it_is_a_400(gpt: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "tool", "tool_call_id": "call_1", "content": "x"},
    ]
    with pytest.raises(openai.BadRequestError, match="must be a response to a preceeding message with 'tool_calls'"):
        await gpt_turn(gpt, messages, stream=False)


async def test_an_unanswered_tool_call_is_a_400(gpt: openai.AsyncOpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
    call2 = {"id": "call_2", "type": "function", "function": {"name": "read", "arguments": "{}"}}
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call, call2]},
        {"role": "tool", "tool_call_id": "call_1", "content": "x"},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(openai.BadRequestError, match="did not have response messages: call_2") as caught:
        await gpt_turn(gpt, messages, stream=True)
    assert caught.value.type == "invalid_request_error"


async def test_the_spend_limit_reads_as_such_in_both_sdks(fake: FakeLLMServer, claude: Any, gpt: Any) -> None:
    fake.add_script(Script(name="broke", steps=[Step(fail=Fail(kind="spend_limit"))]))
    with pytest.raises(anthropic.RateLimitError) as claude_error:
        await claude_turn(claude, [{"role": "user", "content": "[[script:broke]]"}], stream=True)
    assert claude_error.value.error_code == "enforced_spend_limit_reached"
    assert "usage limits" in str(claude_error.value.api_message)
    assert claude_error.value.response.headers.get("retry-after") is None
    with pytest.raises(openai.RateLimitError) as gpt_error:
        await gpt_turn(gpt, [{"role": "user", "content": "[[script:broke]]"}], stream=False)
    assert gpt_error.value.code == "insufficient_quota"


async def test_overloaded_is_a_529_for_the_anthropic_sdk(fake: FakeLLMServer, claude: Any) -> None:
    fake.add_script(Script(name="busy", steps=[Step(fail=Fail(kind="overloaded"))]))
    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude_turn(claude, [{"role": "user", "content": "[[script:busy]]"}], stream=False)
    assert caught.value.status_code == 529 and caught.value.type == "overloaded_error"


async def test_a_wrong_key_is_a_401_in_each_dialect() -> None:
    async with FakeLLMServer(api_keys=["right"]) as strict:
        claude = anthropic.AsyncAnthropic(api_key="wrong", base_url=strict.anthropic_base_url, max_retries=0)
        gpt = openai.AsyncOpenAI(api_key="wrong", base_url=strict.openai_base_url, max_retries=0)
        try:
            with pytest.raises(anthropic.AuthenticationError):
                await claude_turn(claude, [{"role": "user", "content": "hi"}], stream=False)
            with pytest.raises(openai.AuthenticationError):
                await gpt_turn(gpt, [{"role": "user", "content": "hi"}], stream=False)
            right = anthropic.AsyncAnthropic(api_key="right", base_url=strict.anthropic_base_url, max_retries=0)
            assert (
                await claude_turn(right, [{"role": "user", "content": "hi"}], stream=False)
            ).stop_reason == "end_turn"
            await right.close()
        finally:
            await claude.close()
            await gpt.close()
        assert [r.status for r in strict.requests] == [401, 401, 200]
        assert all(r.headers.get("Authorization") in (None, "***") for r in strict.requests)


async def test_an_error_inside_a_stream_reaches_each_sdk(fake: FakeLLMServer, claude: Any, gpt: Any) -> None:
    fake.add_script(Script(name="midway", steps=[Step(fail=Fail(kind="overloaded", in_stream=True))]))
    with pytest.raises(anthropic.APIStatusError) as claude_error:
        await claude_turn(claude, [{"role": "user", "content": "[[script:midway]]"}], stream=True)
    assert claude_error.value.type == "overloaded_error"
    with pytest.raises(openai.APIError, match="overloaded"):
        await gpt_turn(gpt, [{"role": "user", "content": "[[script:midway]]"}], stream=True)
    assert [r.status for r in fake.requests] == [200, 200]  # both streams had started

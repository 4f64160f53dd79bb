"""Runtime faults: an outage of the whole fake (a count or a window), whatever the request's script."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest
from pydantic import ValidationError

from local_emulator.fake_llm import FakeLLMServer, Script, Step

from .conftest import post


def anthropic_body(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": text}], **extra}


def openai_body(text: str = "hi") -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


async def test_the_next_times_requests_fail_on_both_apis_whatever_their_script(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    """``times`` fails exactly that many requests, scripted or not, on either API, then the fake answers again."""
    fake.add_script(Script(name="hello", steps=[Step(text="hello")]))
    fault = fake.add_fault("rate_limit", retry_after_s=1.5, times=2)
    status, data, headers = await post(http, f"{fake.url}/v1/messages", anthropic_body("[[script:hello]]"))
    assert status == 429 and data["error"]["type"] == "rate_limit_error"
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "1500")
    status, data, _ = await post(http, f"{fake.url}/v1/chat/completions", openai_body())
    assert status == 429 and data["error"]["code"] == "rate_limit_exceeded"
    status, data, _ = await post(http, f"{fake.url}/v1/messages", anthropic_body("[[script:hello]]"))
    assert status == 200 and data["content"][0]["text"] == "hello"
    assert [r.fault for r in fake.requests] == [fault.id, fault.id, None]
    assert fake.requests[-1].attempt == 1, "a request the fault answered counts no script attempt"
    assert fake.faults == []


async def test_a_window_fails_every_request_until_it_closes(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    """``for_s`` fails every matching request while open, none after; ``path`` limits it to one API."""
    fake.add_fault("overloaded", for_s=0.6, path="/v1/messages")
    statuses = [(await post(http, f"{fake.url}/v1/messages", anthropic_body(str(n))))[0] for n in range(5)]
    assert statuses == [529] * 5
    assert (await post(http, f"{fake.url}/v1/chat/completions", openai_body()))[0] == 200, "the other API is up"

    async def closed() -> bool:
        return (await post(http, f"{fake.url}/v1/messages", anthropic_body()))[0] == 200

    for _ in range(100):
        if await closed():
            break
        await asyncio.sleep(0.05)
    assert fake.faults == []
    assert (await post(http, f"{fake.url}/v1/messages", anthropic_body()))[0] == 200


async def test_the_spend_limit_and_a_stream_cut_answer_as_a_failing_step_does(fake: FakeLLMServer) -> None:
    """The runtime fault reuses the step's failures: the SDK sees the billing 429, and a stream that breaks off."""
    client = anthropic.AsyncAnthropic(api_key="k", base_url=fake.anthropic_base_url, max_retries=0)
    try:
        fake.add_fault("spend_limit")
        with pytest.raises(anthropic.RateLimitError) as refused:
            await client.messages.create(**anthropic_body())
        assert "usage limits" in str(refused.value)
        fake.add_fault("disconnect")
        with pytest.raises(httpx2.RemoteProtocolError):  # what escapes the SDK when the stream breaks off
            async with client.messages.stream(**anthropic_body("a longer question " * 20)) as stream:
                await stream.get_final_message()
        assert stream.current_message_snapshot.usage.input_tokens > 50, "the head counted the input"
        fake.add_fault("overloaded", in_stream=True)
        with pytest.raises(anthropic.APIStatusError) as in_stream:
            async with client.messages.stream(**anthropic_body()) as stream:
                await stream.get_final_message()
        assert in_stream.value.type == "overloaded_error"
        assert all(r.fault is not None for r in fake.requests[-3:])
        answer = await client.messages.create(**anthropic_body())
        assert answer.content[0].type == "text"
    finally:
        await client.close()


async def test_faults_over_http(fake: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    """``POST``, ``GET`` and ``DELETE /_fake/faults``; a bad body is a 422 that names the field."""
    async with http.post(f"{fake.url}/_fake/faults", json={"kind": "server_error", "for_s": 30}) as added:
        assert added.status == 201
        made = await added.json()
        assert (made["kind"], made["for_s"], made["times"]) == ("server_error", 30, None)
    assert (await post(http, f"{fake.url}/v1/chat/completions", openai_body()))[0] == 500
    async with http.get(f"{fake.url}/_fake/faults") as listed:
        assert [f["id"] for f in (await listed.json())["faults"]] == [made["id"]]
    async with http.delete(f"{fake.url}/_fake/faults") as cleared:
        assert cleared.status == 200
    assert (await post(http, f"{fake.url}/v1/chat/completions", openai_body()))[0] == 200
    for bad, problem in [
        ({"kind": "explode"}, "fail.kind"),
        ({"kind": "rate_limit", "times": 1, "for_s": 2}, "not both"),
        ({"kind": "rate_limit", "times": 0}, "times"),
        ({"kind": "rate_limit", "colour": "red"}, "colour"),
    ]:
        async with http.post(f"{fake.url}/_fake/faults", json=bad) as refused:
            assert refused.status == 422
            assert problem in (await refused.json())["error"]
    async with http.post(f"{fake.url}/_fake/faults", data=b"{not json") as broken:
        assert broken.status == 422
    assert fake.faults == []


def test_the_python_api_refuses_a_count_and_a_window_together(fake: FakeLLMServer) -> None:
    """``add_fault`` takes ``times`` or ``for_s``, never both."""
    with pytest.raises(ValidationError, match="not both"):
        fake.add_fault("rate_limit", times=2, for_s=1)
    assert fake.faults == []


async def test_the_last_answered_request_of_each_api_over_http(
    fake: FakeLLMServer, http: aiohttp.ClientSession
) -> None:
    """``GET /_fake/requests/last?api=``: the body of the newest request answered 200, a 404 before any."""
    async with http.get(f"{fake.url}/_fake/requests/last", params={"api": "anthropic"}) as none_yet:
        assert none_yet.status == 404
    assert (await post(http, f"{fake.url}/v1/messages", anthropic_body("first")))[0] == 200
    assert (await post(http, f"{fake.url}/v1/messages", anthropic_body("second")))[0] == 200
    fake.add_fault(kind="server_error", times=1)
    assert (await post(http, f"{fake.url}/v1/messages", anthropic_body("refused")))[0] == 500
    assert (await post(http, f"{fake.url}/v1/chat/completions", openai_body("elsewhere")))[0] == 200
    async with http.get(f"{fake.url}/_fake/requests/last", params={"api": "anthropic"}) as last:
        assert last.status == 200
        answered = await last.json()
    assert answered["path"] == "/v1/messages"
    assert answered["body"]["messages"] == [{"role": "user", "content": "second"}]

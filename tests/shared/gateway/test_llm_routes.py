"""The real SDKs, pointed at the gateway with an activation token, reach the fake LLM with the real key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import anthropic
import openai
import pytest

from local_emulator.fake_llm import FakeLLMServer, Script, Step
from local_emulator.fake_llm import Usage as FakeUsage
from shared.accounting import LiveSpend, Spending, from_micro, to_micro
from shared.gateway import Gateway, Lease, Leases, Upstream
from shared.llm import Usage, cost_usd
from shared.streams import Redis, StreamKeys
from tests.support import Clock

REAL_KEY = "sk-real-provider-key-0123456789"
MODEL = "claude-haiku-4-5"
USAGE = FakeUsage(input_tokens=1200, output_tokens=80, cache_creation_input_tokens=300, cache_read_input_tokens=500)
METERED = Usage(input_tokens=1200, output_tokens=80, cache_write_tokens=300, cache_read_tokens=500)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    scripts = [Script(name="priced", steps=[Step(text="metered answer", usage=USAGE)])]
    async with FakeLLMServer(scripts=scripts, api_keys=[REAL_KEY]) as server:
        yield server


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with Gateway() as gw:
        yield gw


def lease(gateway: Gateway, fake: FakeLLMServer, *, spending: Spending | None = None, cap: str = "1.00") -> Lease:
    budget = (spending or Spending()).for_activation(agent_id="agent-1", cost_cap_usd=Decimal(cap))
    return gateway.leases.issue(
        agent="gw-agent",
        activation_id="act-1",
        budget=budget,
        upstreams={
            "anthropic": Upstream(api="anthropic", base_url=fake.anthropic_base_url, api_key=REAL_KEY),
            "openai": Upstream(api="openai", base_url=fake.openai_base_url, api_key=REAL_KEY),
        },
    )


def llm_requests(fake: FakeLLMServer) -> list[object]:
    return [r for r in fake.requests if r.path in ("/v1/messages", "/v1/chat/completions")]


async def test_the_anthropic_sdk_completes_json_and_streaming_calls_metered_exactly(
    gateway: Gateway, fake: FakeLLMServer, redis: Redis, keys: StreamKeys
) -> None:
    live = LiveSpend(redis, keys=keys)
    granted = lease(gateway, fake, spending=Spending(live=live))
    client = anthropic.AsyncAnthropic(api_key=granted.token, base_url=gateway.url, max_retries=0)
    try:
        ask = {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "hi [[script:priced]]"}]}
        answer = await client.messages.create(**ask)  # type: ignore[call-overload]
        async with client.messages.stream(**ask) as stream:  # type: ignore[arg-type]
            streamed = await stream.get_final_message()
    finally:
        await client.close()
    assert answer.content[0].text == "metered answer" and streamed.content[0].text == "metered answer"  # type: ignore[union-attr]
    assert granted.budget.calls == 2 and granted.budget.usage == METERED + METERED, "what the fake reported, twice"
    expected = cost_usd(MODEL, METERED).usd * 2
    assert granted.budget.spent_usd == expected
    day, _month = await live.spent("agent-1", at=datetime.now(UTC))
    assert day == 2 * from_micro(to_micro(expected / 2)), "booked at once, call by call"
    assert [r.status for r in llm_requests(fake)] == [200, 200], "the fake took the real key"  # type: ignore[attr-defined]
    assert all(granted.token not in str(r.headers) for r in fake.requests), "the token never left the gateway"


async def test_the_openai_sdk_completes_json_and_streaming_calls_metered(gateway: Gateway, fake: FakeLLMServer) -> None:
    granted = lease(gateway, fake)
    client = openai.AsyncOpenAI(api_key=granted.token, base_url=gateway.url + "/v1", max_retries=0)
    try:
        ask = {
            "model": "gpt-4o-mini",
            "max_tokens": 128,
            "messages": [{"role": "user", "content": "hi [[script:priced]]"}],
        }
        answer = await client.chat.completions.create(**ask)  # type: ignore[call-overload]
        chunks = [c async for c in await client.chat.completions.create(**ask, stream=True)]  # type: ignore[call-overload]
    finally:
        await client.close()
    assert answer.choices[0].message.content == "metered answer"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "metered answer"
    assert granted.budget.calls == 2
    # The OpenAI side reports cache reads inside prompt_tokens and no cache writes: the gateway reads what it says.
    assert granted.budget.usage.output_tokens == 160 and granted.budget.usage.input_tokens > 0
    streamed = next(r for r in llm_requests(fake) if r.body.get("stream"))  # type: ignore[attr-defined]
    assert streamed.body["stream_options"] == {"include_usage": True}, "asked for, so a stream is metered too"


async def test_a_call_that_would_pass_the_cost_cap_never_reaches_the_provider(
    gateway: Gateway, fake: FakeLLMServer
) -> None:
    granted = lease(gateway, fake, cap="0.0001")
    client = anthropic.AsyncAnthropic(api_key=granted.token, base_url=gateway.url, max_retries=3)
    try:
        with pytest.raises(anthropic.APIStatusError) as refused:
            await client.messages.create(
                model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": "write an essay"}]
            )
    finally:
        await client.close()
    assert refused.value.status_code == 402
    assert refused.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    assert "cost cap" in refused.value.body["error"]["message"]  # type: ignore[index]
    assert llm_requests(fake) == [], "refused before it was forwarded, and not retried by the SDK"
    assert granted.budget.calls == 0 and granted.budget.in_flight == 0


async def test_a_wrong_or_expired_token_gets_401(gateway: Gateway, fake: FakeLLMServer) -> None:
    for key in ("sk-not-a-lease", REAL_KEY):
        client = anthropic.AsyncAnthropic(api_key=key, base_url=gateway.url, max_retries=0)
        try:
            with pytest.raises(anthropic.AuthenticationError):
                await client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
        finally:
            await client.close()
    granted = lease(gateway, fake)
    gateway.leases.revoke(granted.token)
    client = openai.AsyncOpenAI(api_key=granted.token, base_url=gateway.url + "/v1", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    finally:
        await client.close()
    assert llm_requests(fake) == []


def test_a_lease_expires_on_its_own() -> None:
    clock = Clock(100.0)
    leases = Leases(clock=clock)
    granted = leases.issue(
        agent="a",
        activation_id="x",
        budget=Spending().for_activation(agent_id="a", cost_cap_usd=Decimal(1)),
        upstreams={},
        ttl_s=30,
    )
    assert leases.get(granted.token) is granted and granted.token.startswith("bbgw-") and len(granted.token) > 40
    clock.advance(30)
    assert leases.get(granted.token) is None and len(leases) == 0

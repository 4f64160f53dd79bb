"""LLM faults against the whole activation path, over the Anthropic SDK and the OpenAI SDK.

The fake LLM fails whatever the request's script (``FakeLLMServer.add_fault``): a 429 with
``retry-after``, a 529/503 storm, the spend-limit 429, a call that never answers, a stream
cut mid-response. Timings are shrunk (the integration system's LLM timeout 5 s and 2
attempts; pump retries 0.4 s doubling to 1.5 s). No activation wedges: the streams settle (lag, pending, delayed all 0)
and the agent's lease is released.
"""

from __future__ import annotations

from typing import Any

import pytest

from local_emulator.fake_llm._anthropic_check import validate as anthropic_request
from local_emulator.fake_llm._common import estimate_tokens
from tests.support import eventually
from tests.support.faults import System, completed, consumption_keys, faults_stream_settings, native_agent, system  # noqa: F401

pytestmark = pytest.mark.slow  # make test-fast leaves it out

PROVIDERS = ["anthropic", "openai"]


@pytest.fixture
def system_overrides(keys: Any) -> dict[str, Any]:
    return {"streams": faults_stream_settings(keys)}


def agent(world: System, provider: str, **brain: Any) -> str:
    config = native_agent("ana", provider=provider, api_base=world.fake.openai_base_url)
    config["brain"].update(brain)
    return world.add_agent(config)


def path_of(provider: str) -> str:
    return "/v1/messages" if provider == "anthropic" else "/v1/chat/completions"


async def settled_and_released(world: System, agent_id: str) -> None:
    await eventually(world.settled, timeout_s=40)
    assert not await world.redis.exists(world.keys.lease(agent_id)), "the agent's lease was released"


async def run(world: System, provider: str, **brain: Any) -> tuple[str, str]:
    """A mention of a native agent on ``provider``, queued and a runner started; (agent id, post id)."""
    agent_id = agent(world, provider, **brain)
    post = world.hub.human_post("dana", "@ana what do you think?")
    await world.tick()
    await world.start_metrics()
    await world.start_runner()
    return agent_id, post.id


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_429_with_retry_after_is_retried_after_the_delay(system: System, provider: str) -> None:  # noqa: F811
    """A 429 asking for 1.2 s: the call is retried once, no sooner than asked, and the mention gets one reply."""
    system.fake.add_fault("rate_limit", retry_after_s=1.2, times=1)
    agent_id, post_id = await run(system, provider)
    await eventually(lambda: system.replies_by("ana"))
    await settled_and_released(system, agent_id)
    calls = system.fake.calls(path_of(provider))
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].received_at - calls[0].received_at >= 1.1, "the retry waited for retry-after"
    assert [c.post_id for c in system.replies_by("ana")] == [post_id]
    [done] = await completed(system, agent_id)
    assert done.outcome == "replied"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_overloaded_storm_fails_the_activation_transiently_and_it_is_retried_later(
    system: System,  # noqa: F811
    provider: str,
) -> None:
    """529 (Anthropic) / 503 (OpenAI) on every call for 3 s: each attempt's calls back off and give up, the
    activation fails transiently (nothing spent, nothing posted), the pump retries it, and once the storm is
    over the mention gets exactly one reply; nothing is dead-lettered and nothing wedges."""
    system.fake.add_fault("overloaded", for_s=3.0)
    agent_id, post_id = await run(system, provider)
    await eventually(lambda: system.replies_by("ana"), timeout_s=30)
    await settled_and_released(system, agent_id)
    statuses = [c.status for c in system.fake.calls(path_of(provider))]
    assert statuses[-1] == 200 and statuses.count(529 if provider == "anthropic" else 503) >= 3, statuses
    assert [c.post_id for c in system.replies_by("ana")] == [post_id]
    assert await system.redis.xlen(system.keys.dlq) == 0
    events = await completed(system, agent_id)
    assert [e.outcome for e in events] == ["replied"], "failed attempts spent nothing, so reported nothing"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_spend_limit_429_is_never_retried(system: System, provider: str) -> None:  # noqa: F811
    """The billing 429: exactly one call, no retry by the provider or the pump; the activation is dead-lettered
    at once with the provider's reason (a ``PermanentError``), nothing is posted, and nothing wedges."""
    system.fake.add_fault("spend_limit", for_s=30)
    agent_id, _ = await run(system, provider)
    await eventually(lambda: system.redis.xlen(system.keys.dlq))
    await settled_and_released(system, agent_id)
    assert len(system.fake.calls(path_of(provider))) == 1
    assert system.replies_by("ana") == []
    entries: list[Any] = list(await system.redis.xrange(system.keys.dlq))
    assert len(entries) == 1, "one dead letter"
    text = " ".join(v.decode() if isinstance(v, bytes) else str(v) for v in dict(entries[0][1]).values())
    assert "429" in text and ("limit" in text or "quota" in text)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_call_that_never_answers_times_out_and_is_retried(system: System, provider: str) -> None:  # noqa: F811
    """A call that hangs past ``LLM_TIMEOUT_S`` is abandoned and tried again; the mention gets one reply."""
    system.fake.add_fault("hang", times=1)
    agent_id, post_id = await run(system, provider)
    await eventually(lambda: system.replies_by("ana"), timeout_s=30)
    await settled_and_released(system, agent_id)
    calls = system.fake.calls(path_of(provider))
    assert len(calls) >= 2 and calls[-1].status == 200 and calls[0].fault is not None
    assert [c.post_id for c in system.replies_by("ana")] == [post_id]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_response_cut_mid_way_is_retried_and_a_cut_stream_is_still_billed(
    system: System,  # noqa: F811
    provider: str,
) -> None:
    """The connection drops mid-response: the call is retried and the mention gets one reply. Over the
    Anthropic SDK the call streams (``max_tokens`` above 8192), the cut stream's ``message_start`` had
    billed the input, and that usage is in the completed event, the usage book and the Hub's consumption
    record. (The OpenAI adapter never streams: its cut body bills nothing.)"""
    system.fake.add_fault("disconnect", times=1)
    agent_id, post_id = await run(system, provider, max_tokens=16000)
    await eventually(lambda: system.replies_by("ana"), timeout_s=30)
    await settled_and_released(system, agent_id)
    calls = system.fake.calls(path_of(provider))
    assert calls[0].fault is not None and calls[-1].status == 200
    assert [c.post_id for c in system.replies_by("ana")] == [post_id]
    [done] = await completed(system, agent_id)
    if provider == "anthropic":
        assert calls[0].body["stream"] is True
        one_call = estimate_tokens(anthropic_request(calls[-1].body).input_chars)
        assert done.usage.input_tokens == 2 * one_call, "the cut stream's input is billed as well as the answer's"
    await eventually(lambda: len(system.hub.consumption) == 1)
    [record] = system.hub.consumption
    assert record.body["tokens_input"] == done.usage.input_tokens
    assert sum(consumption_keys(system).values()) == 1

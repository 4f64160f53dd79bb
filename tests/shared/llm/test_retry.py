"""The retry policy against real failures from the fake: what is retried, how long, and what is not."""

from __future__ import annotations

import socket
import time

import pytest

from local_emulator.fake_llm import Fail, FakeLLMServer, Script, Step
from shared.errors import LLMRejected, LLMSpendLimit, LLMUnavailable, PermanentError, TransientError
from shared.llm import STREAM_ABOVE_TOKENS, Message, ToolResult, make_provider

from .conftest import KEY, MODELS, PATHS, TOOLS, ProviderFactory, ask


def flaky(fail: Fail, times: int | None = 1) -> Script:
    return Script(name="flaky", steps=[Step(text="recovered", fail=fail, fail_times=times)])


def statuses(fake: FakeLLMServer, kind: str) -> list[int | None]:
    return [r.status for r in fake.calls(PATHS[kind])]


async def test_a_429_waits_out_retry_after_then_succeeds(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    fake.add_script(flaky(Fail(kind="rate_limit", retry_after_s=0.3)))
    completion = await ask(providers(base_delay_s=0.001), kind, "[[script:flaky]]")
    assert completion.text == "recovered"
    first, second = fake.calls(PATHS[kind])
    assert (first.status, second.status) == (429, 200)
    assert (first.attempt, second.attempt) == (1, 2)
    # retry-after-ms (300) was honoured: not the tiny backoff, not the rounded-up retry-after (1 s).
    assert 0.3 <= second.received_at - first.received_at < 0.9


@pytest.mark.parametrize("failure", ["overloaded", "server_error"])
async def test_overloaded_and_server_errors_are_retried(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str, failure: str
) -> None:
    fake.add_script(flaky(Fail(kind=failure), times=2))  # type: ignore[arg-type]
    completion = await ask(providers(), kind, "[[script:flaky]]")
    assert completion.text == "recovered"
    expected = {"overloaded": 529 if kind == "anthropic" else 503, "server_error": 500}[failure]
    assert statuses(fake, kind) == [expected, expected, 200]


async def test_an_anthropic_529_is_what_the_fake_sends(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    fake.add_script(flaky(Fail(kind="overloaded"), times=None))
    with pytest.raises(LLMUnavailable) as caught:
        await ask(providers(max_attempts=2), kind, "[[script:flaky]]")
    assert caught.value.status == (529 if kind == "anthropic" else 503)
    assert "gave up after 2 attempts" in str(caught.value)
    assert len(fake.calls(PATHS[kind])) == 2


async def test_the_spend_limit_is_not_retried(fake: FakeLLMServer, providers: ProviderFactory, kind: str) -> None:
    fake.add_script(flaky(Fail(kind="spend_limit"), times=None))
    with pytest.raises(LLMSpendLimit) as caught:
        await ask(providers(), kind, "[[script:flaky]]")
    assert isinstance(caught.value, PermanentError) and not isinstance(caught.value, TransientError)
    assert caught.value.status == 429
    assert statuses(fake, kind) == [429]


async def test_a_credit_balance_400_is_a_spend_limit(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    message = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing."
    fake.add_script(flaky(Fail(kind="invalid_request", message=message), times=None))
    with pytest.raises(LLMSpendLimit, match="credit balance") as caught:
        await ask(providers(), kind, "[[script:flaky]]")
    assert caught.value.status == 400
    assert statuses(fake, kind) == [400]


async def test_a_persistent_429_gives_up_after_the_attempts(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    fake.add_script(flaky(Fail(kind="rate_limit", retry_after_s=0.01), times=None))
    with pytest.raises(LLMUnavailable) as caught:
        await ask(providers(max_attempts=3), kind, "[[script:flaky]]")
    assert caught.value.status == 429
    assert statuses(fake, kind) == [429, 429, 429]


async def test_a_retry_after_beyond_the_cap_is_handed_to_the_caller(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    fake.add_script(flaky(Fail(kind="rate_limit", retry_after_s=120)))
    with pytest.raises(LLMUnavailable) as caught:
        await ask(providers(max_delay_s=1.0), kind, "[[script:flaky]]")
    assert caught.value.retry_after_s == 120
    assert statuses(fake, kind) == [429]


async def test_a_scripted_400_is_rejected_at_once(fake: FakeLLMServer, providers: ProviderFactory, kind: str) -> None:
    fake.add_script(flaky(Fail(kind="invalid_request", message="prompt is too long: 210000 tokens"), times=None))
    with pytest.raises(LLMRejected, match="prompt is too long") as caught:
        await ask(providers(), kind, "[[script:flaky]]")
    assert caught.value.status == 400 and not isinstance(caught.value, LLMSpendLimit)
    assert statuses(fake, kind) == [400]


async def test_a_protocol_mistake_is_rejected_with_the_providers_message(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    orphan = [Message.user(ToolResult("toolu_orphan", "result"))]
    with pytest.raises(LLMRejected) as caught:
        await providers().complete(model=MODELS[kind], system="s", messages=orphan, tools=TOOLS, max_tokens=10)
    expected = "unexpected `tool_use_id`" if kind == "anthropic" else "must be a response to a preceeding message"
    assert expected in str(caught.value)
    assert statuses(fake, kind) == [400]


async def test_a_wrong_key_is_rejected_without_showing_the_key(providers: ProviderFactory, kind: str) -> None:
    async with FakeLLMServer(api_keys=["the-right-key"]) as strict:
        base = strict.anthropic_base_url if kind == "anthropic" else strict.openai_base_url
        with pytest.raises(LLMRejected) as caught:
            await ask(providers(api_base=base), kind, "hi")
        assert caught.value.status == 401
        assert KEY not in str(caught.value)
        assert all(KEY not in str(r.headers) for r in strict.requests)


async def test_a_hang_times_out_each_attempt_then_is_unavailable(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    fake.add_script(flaky(Fail(kind="hang"), times=None))
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        await ask(providers(timeout_s=0.3, max_attempts=2), kind, "[[script:flaky]]")
    assert caught.value.status is None
    assert len(fake.calls(PATHS[kind])) == 2
    assert 0.6 <= time.monotonic() - started < 3


async def test_a_dropped_connection_is_retried(fake: FakeLLMServer, providers: ProviderFactory, kind: str) -> None:
    fake.add_script(flaky(Fail(kind="disconnect")))
    completion = await ask(providers(), kind, "[[script:flaky]]")
    assert completion.text == "recovered"
    assert [r.attempt for r in fake.calls(PATHS[kind])] == [1, 2]


async def test_an_error_event_inside_an_anthropic_stream_is_retried(fake: FakeLLMServer) -> None:
    fake.add_script(flaky(Fail(kind="overloaded", in_stream=True)))
    provider = make_provider(provider="anthropic", api_base=fake.anthropic_base_url, api_key=KEY, base_delay_s=0.01)
    try:
        completion = await ask(provider, "anthropic", "[[script:flaky]]", max_tokens=STREAM_ABOVE_TOKENS + 1)
    finally:
        await provider.aclose()
    assert completion.text == "recovered"
    assert statuses(fake, "anthropic") == [200, 200]  # the first stream started fine, then said "overloaded"


async def test_a_refused_connection_is_unavailable(providers: ProviderFactory, kind: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("" if kind == "anthropic" else "/v1")
    with pytest.raises(LLMUnavailable, match="unreachable") as caught:
        await ask(providers(api_base=base, max_attempts=2), kind, "hi")
    assert caught.value.status is None


async def test_backoff_doubles_with_jitter_between_attempts(
    fake: FakeLLMServer, providers: ProviderFactory, kind: str
) -> None:
    fake.add_script(flaky(Fail(kind="server_error"), times=None))
    waits: list[float] = []

    async def record(delay_s: float) -> None:
        waits.append(delay_s)

    with pytest.raises(LLMUnavailable):
        await ask(providers(sleep=record, base_delay_s=1.0, max_delay_s=3.0), kind, "[[script:flaky]]")
    assert len(waits) == 3 and len(fake.calls(PATHS[kind])) == 4
    for wait, ceiling in zip(waits, [1.0, 2.0, 3.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling

"""make_provider: brain.provider and api_base to an adapter, or a ConfigurationError naming what is missing."""

from __future__ import annotations

import pytest

from local_emulator.fake_llm import FakeLLMServer
from shared.errors import ConfigurationError
from shared.llm import (
    ANTHROPIC_BASE_URL,
    GOOGLE_BASE_URL,
    OPENAI_BASE_URL,
    AnthropicProvider,
    Message,
    OpenAICompatibleProvider,
    RetryingProvider,
    make_provider,
)

SECRET = "sk-do-not-print-me"


@pytest.mark.parametrize(
    ("provider", "api_base", "adapter", "base_url"),
    [
        ("anthropic", None, AnthropicProvider, ANTHROPIC_BASE_URL),
        ("anthropic", "http://127.0.0.1:9/", AnthropicProvider, "http://127.0.0.1:9"),
        ("openai", None, OpenAICompatibleProvider, OPENAI_BASE_URL),
        ("openai", "http://gateway.internal/v1", OpenAICompatibleProvider, "http://gateway.internal/v1"),
        ("google", None, OpenAICompatibleProvider, GOOGLE_BASE_URL),
        ("local", "http://127.0.0.1:11434/v1", OpenAICompatibleProvider, "http://127.0.0.1:11434/v1"),
        ("Anthropic ", None, AnthropicProvider, ANTHROPIC_BASE_URL),
    ],
)
async def test_each_provider_gets_its_adapter_and_base_url(
    provider: str, api_base: str | None, adapter: type, base_url: str
) -> None:
    made = make_provider(provider=provider, api_base=api_base, api_key=SECRET)
    try:
        assert isinstance(made, RetryingProvider)
        assert isinstance(made.inner, AnthropicProvider | OpenAICompatibleProvider)
        assert type(made.inner) is adapter
        assert str(made.inner.base_url).rstrip("/") == base_url.rstrip("/")
        assert made.policy.max_attempts == 4
    finally:
        await made.aclose()


async def test_the_environment_does_not_redirect_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://attacker.invalid")
    made = make_provider(provider="anthropic", api_key=SECRET)
    try:
        assert isinstance(made, RetryingProvider) and isinstance(made.inner, AnthropicProvider)
        assert made.inner.base_url.rstrip("/") == ANTHROPIC_BASE_URL
    finally:
        await made.aclose()


async def test_a_local_server_needs_no_key() -> None:
    async with FakeLLMServer() as fake:
        made = make_provider(provider="local", api_base=fake.openai_base_url, api_key=None, max_attempts=1)
        try:
            assert isinstance(made, RetryingProvider) and isinstance(made.inner, OpenAICompatibleProvider)
            answer = await made.complete(model="llama3", system="", messages=[Message.user("hi")], max_tokens=16)
        finally:
            await made.aclose()
    assert answer.text, "the local server answered a call made without a key"
    assert [r.status for r in fake.requests if r.path == "/v1/chat/completions"] == [200]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"provider": "anthropic", "api_key": None}, "needs an API key.*ANTHROPIC_API_KEY"),
        ({"provider": "openai", "api_key": ""}, "needs an API key.*OPENAI_API_KEY"),
        ({"provider": "google", "api_key": None}, "needs an API key.*GOOGLE_API_KEY"),
        ({"provider": "local", "api_key": None}, "'local' needs brain.api_base"),
        ({"provider": "cohere", "api_key": SECRET}, "'cohere' is not one of anthropic, google, local, openai"),
        ({"provider": "openai", "api_key": SECRET, "api_base": "api.openai.com/v1"}, "must be an http"),
        ({"provider": "openai", "api_key": SECRET, "max_attempts": 0}, "max_attempts must be at least 1"),
        ({"provider": "openai", "api_key": SECRET, "timeout_s": 0}, "timeout must be positive"),
    ],
)
def test_unusable_settings_fail_at_start_naming_the_problem(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        make_provider(**kwargs)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from local_emulator.fake_llm import FakeLLMServer
from shared.llm import LLMProvider, Message, ToolSpec, make_provider

KEY = "sk-test-0123456789"
TOOLS = [
    ToolSpec(
        name="search",
        description="Search the hub.",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    ),
    ToolSpec(
        name="read",
        description="Read a file.",
        input_schema={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
]
MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini"}
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


ProviderFactory = Callable[..., LLMProvider]


@pytest.fixture(params=["anthropic", "openai"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def providers(fake: FakeLLMServer, kind: str) -> AsyncIterator[ProviderFactory]:
    """Build providers of ``kind`` aimed at the fake (fast retries); closes them afterwards."""
    made: list[LLMProvider] = []

    def build(**overrides: Any) -> LLMProvider:
        options: dict[str, Any] = {
            "provider": "anthropic" if kind == "anthropic" else "openai",
            "api_base": fake.anthropic_base_url if kind == "anthropic" else fake.openai_base_url,
            "api_key": KEY,
            "timeout_s": 5.0,
            "max_attempts": 4,
            "base_delay_s": 0.01,
            "max_delay_s": 2.0,
        }
        options.update(overrides)
        provider = make_provider(**options)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()


async def ask(provider: LLMProvider, kind: str, text: str, **kwargs: Any) -> Any:
    """One call with the usual arguments: ``text`` as the only user turn."""
    return await provider.complete(
        model=MODELS[kind],
        system="You are tester-bot, a test agent.",
        messages=[Message.user(text)],
        tools=kwargs.pop("tools", TOOLS),
        max_tokens=kwargs.pop("max_tokens", 512),
        **kwargs,
    )

"""Build the provider an agent's ``brain`` section asks for.

* ``anthropic`` -> ``AnthropicProvider``; ``api_base`` defaults to ``ANTHROPIC_BASE_URL``;
* ``openai`` -> ``OpenAICompatibleProvider``; ``api_base`` defaults to ``OPENAI_BASE_URL``;
* ``google`` -> ``OpenAICompatibleProvider``; ``api_base`` defaults to ``GOOGLE_BASE_URL``
  (Gemini's OpenAI-compatible endpoint);
* ``local`` -> ``OpenAICompatibleProvider``; ``api_base`` is required (the server's ``/v1``).

Every provider but ``local`` needs an API key; the caller resolves
``brain.api_key_env`` and passes the key in (this module reads no environment).
"""

from __future__ import annotations

import asyncio
import random
from urllib.parse import urlsplit

from shared.errors import ConfigurationError

from ._anthropic import ANTHROPIC_BASE_URL, AnthropicProvider
from ._openai import OpenAICompatibleProvider
from ._retry import RetryingProvider, RetryPolicy, Sleep
from ._types import LLMProvider

OPENAI_BASE_URL = "https://api.openai.com/v1"
GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
PROVIDERS = ("anthropic", "google", "local", "openai")
# Local servers ignore the key, but the SDK insists on one.
_LOCAL_KEY = "not-needed"


def make_provider(
    *,
    provider: str,
    api_base: str | None = None,
    api_key: str | None,
    timeout_s: float = 120.0,
    max_attempts: int = 4,
    base_delay_s: float = 1.0,
    max_delay_s: float = 30.0,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> LLMProvider:
    """The provider for ``brain.provider`` and ``brain.api_base``, wrapped in the retry policy.

    Args:
        provider: ``anthropic``, ``openai``, ``google`` or ``local``.
        api_base: the endpoint's base URL (see the module table); ``None`` for the default.
        api_key: the key ``brain.api_key_env`` names, already read by the caller.
        timeout_s: seconds to wait for the network (connecting, or the next bytes).
        max_attempts: attempts per call, the first included, before ``LLMUnavailable``.
        base_delay_s: the first backoff delay; it doubles with each attempt.
        max_delay_s: the longest backoff delay, and the longest ``retry-after`` waited out.
        sleep: how to wait between attempts (tests pass a fast one).
        rng: the jitter's randomness (tests pass a seeded one).

    Raises:
        ConfigurationError: an unknown provider, a missing key or base URL, or a base URL
            that is not http(s).
    """
    name = provider.strip().lower()
    if name not in PROVIDERS:
        raise ConfigurationError(f"brain.provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    if api_base is not None:
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"brain.api_base for provider {name!r} must be an http(s) URL")
    if timeout_s <= 0:
        raise ConfigurationError("the LLM timeout must be positive")
    if not api_key and name != "local":
        raise ConfigurationError(
            f"brain.provider {name!r} needs an API key: set the variable brain.api_key_env names "
            f"(default {_default_key_env(name)})"
        )
    try:
        policy = RetryPolicy(max_attempts=max_attempts, base_delay_s=base_delay_s, max_delay_s=max_delay_s)
    except ValueError as exc:
        raise ConfigurationError(f"LLM retry policy: {exc}") from exc
    if name == "local" and api_base is None:
        raise ConfigurationError("brain.provider 'local' needs brain.api_base (the server's OpenAI-compatible URL)")
    inner: LLMProvider
    if name == "anthropic":
        inner = AnthropicProvider(api_key=api_key or "", base_url=api_base or ANTHROPIC_BASE_URL, timeout_s=timeout_s)
    elif name == "local" and api_base is not None:
        inner = OpenAICompatibleProvider(api_key=api_key or _LOCAL_KEY, base_url=api_base, timeout_s=timeout_s)
    else:
        default = OPENAI_BASE_URL if name == "openai" else GOOGLE_BASE_URL
        inner = OpenAICompatibleProvider(
            api_key=api_key or "",
            base_url=api_base or default,
            timeout_s=timeout_s,
            max_tokens_param="max_completion_tokens" if name == "openai" else "max_tokens",
        )
    return RetryingProvider(inner, policy=policy, sleep=sleep, rng=rng)


def _default_key_env(name: str) -> str:
    return {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "google": "GOOGLE_API_KEY"}[name]

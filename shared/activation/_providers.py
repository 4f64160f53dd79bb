"""One LLM provider per distinct brain endpoint, built on first use and kept for the process.

An agent's ``brain`` names its provider, ``api_base`` and ``api_key_env``; the key is
resolved through the settings (never the environment directly). ``ANTHROPIC_BASE_URL``
and ``OPENAI_BASE_URL`` retarget the *default* endpoints of those providers, including
an ``api_base`` that spells the default out (as the ``sprint-coder`` fixture does), so
the local emulator can point every stock agent at the fake LLM; any other ``api_base``
(Groq, vLLM, Ollama, ...) is used as written.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.agents import Brain
from shared.errors import ConfigurationError, PermanentError
from shared.gateway import Api, Upstream
from shared.llm import ANTHROPIC_BASE_URL, OPENAI_BASE_URL, LLMProvider, make_provider
from shared.settings import LLMSettings

DEFAULT_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "google": "GOOGLE_API_KEY"}

ProviderFactory = Callable[..., LLMProvider]


class Providers:
    """LLM providers keyed by (provider, base URL, key variable), shared by all activations."""

    def __init__(self, settings: LLMSettings, *, make: ProviderFactory = make_provider) -> None:
        self._settings = settings
        self._make = make
        self._built: dict[tuple[str, str | None, str], LLMProvider] = {}

    def endpoint(self, brain: Brain) -> tuple[str, str | None, str]:
        """``(provider, base URL or None for the SDK default, key variable)`` for ``brain``."""
        provider = brain.provider
        base = brain.api_base.rstrip("/") if brain.api_base else None
        if provider == "anthropic" and base in (None, ANTHROPIC_BASE_URL):
            base = self._settings.anthropic_base_url or base
        elif provider == "openai" and base in (None, OPENAI_BASE_URL):
            base = self._settings.openai_base_url or base
        key_env = brain.api_key_env or DEFAULT_KEY_ENV.get(provider, "")
        return provider, base, key_env

    def for_brain(self, brain: Brain) -> LLMProvider:
        """The provider for ``brain``, built on first use.

        Raises:
            PermanentError: the agent's brain cannot be served (unknown provider, no key
                set under ``api_key_env``): retrying the activation cannot help.
        """
        endpoint = self.endpoint(brain)
        provider = self._built.get(endpoint)
        if provider is None:
            name, base, key_env = endpoint
            try:
                provider = self._make(
                    provider=name,
                    api_base=base,
                    api_key=self._settings.key(key_env) if key_env else None,
                    timeout_s=self._settings.timeout_s,
                    max_attempts=self._settings.max_attempts,
                )
            except ConfigurationError as exc:
                raise PermanentError(f"the agent's brain cannot be served: {exc}") from exc
            self._built[endpoint] = provider
        return provider

    def upstream(self, brain: Brain, api: Api) -> Upstream:
        """Where the gateway sends a coding CLI's calls for ``brain``, with the real key.

        Raises:
            PermanentError: the CLI speaks another API than the brain's provider, or the key
                the brain names is not set.
        """
        provider, base, key_env = self.endpoint(brain)
        if provider != api:
            raise PermanentError(f"the agent's CLI speaks the {api} API, but its brain's provider is {provider!r}")
        key = self._settings.key(key_env) if key_env else None
        if not key:
            raise PermanentError(f"the agent's brain cannot be served: no API key is set in {key_env or '(none)'}")
        default = ANTHROPIC_BASE_URL if api == "anthropic" else OPENAI_BASE_URL
        return Upstream(api=api, base_url=base or default, api_key=key)

    async def aclose(self) -> None:
        """Close every provider built."""
        for provider in self._built.values():
            await provider.aclose()
        self._built.clear()

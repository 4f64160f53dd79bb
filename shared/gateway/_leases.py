"""Leases: one activation's right to use the gateway, behind a random token that dies with it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared import tracing
from shared.accounting import CallBudget
from shared.tools import ToolSet
from shared.transcripts import Transcript

Api = Literal["anthropic", "openai"]


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """Where an activation's LLM calls really go: the agent's provider and its real key.

    ``base_url`` is the provider's root for ``anthropic`` (``https://api.anthropic.com``) and
    its ``/v1`` for ``openai`` (any OpenAI-compatible endpoint).
    """

    api: Api
    base_url: str
    api_key: str = field(repr=False)


@dataclass(kw_only=True)
class Lease:
    """What one activation may reach through the gateway.

    Attributes:
        token: the activation's key for the gateway (its CLI's ``ANTHROPIC_API_KEY``).
        agent: the agent's name (logs).
        activation_id: the activation (logs, transcripts).
        budget: every LLM call is admitted by it and booked in it.
        upstreams: the providers it may call, by API.
        tools: its MCP routes: ``hub`` and each granted server, by name.
        transcript: where the calls are recorded (``None``: nowhere).
        expires_at: ``time.monotonic()`` after which the token is refused.
        calls: LLM calls forwarded.
        refusals: the reasons of the LLM calls the budget refused (``cost_cap``, a budget's), in order.
        refusal_status: the HTTP status of such a refusal: 402, which the Anthropic and OpenAI
            SDKs never retry; 400 for a client that retries a 402 (aider's litellm does, for a minute).
        traceparent: the activation's span when the lease was issued: its CLI's upstream calls
            carry it (they arrive on the gateway's own tasks, outside the activation's context).
    """

    token: str = field(repr=False)
    agent: str
    activation_id: str
    budget: CallBudget
    upstreams: Mapping[Api, Upstream]
    tools: Mapping[str, ToolSet] = field(default_factory=dict)
    transcript: Transcript | None = None
    expires_at: float = float("inf")
    traceparent: str | None = None
    calls: int = 0
    refusals: list[str] = field(default_factory=list)
    refusal_status: int = 402


class Leases:
    """The tokens the gateway accepts now."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_token: dict[str, Lease] = {}
        self._clock = clock

    def issue(
        self,
        *,
        agent: str,
        activation_id: str,
        budget: CallBudget,
        upstreams: Mapping[Api, Upstream],
        tools: Mapping[str, ToolSet] | None = None,
        transcript: Transcript | None = None,
        ttl_s: float = 3600.0,
        refusal_status: int = 402,
    ) -> Lease:
        """A lease with a fresh random token, valid ``ttl_s`` or until revoked."""
        lease = Lease(
            token=f"bbgw-{secrets.token_urlsafe(32)}",
            agent=agent,
            activation_id=activation_id,
            budget=budget,
            upstreams=dict(upstreams),
            tools=dict(tools or {}),
            transcript=transcript,
            expires_at=self._clock() + ttl_s,
            refusal_status=refusal_status,
            traceparent=tracing.current(),
        )
        self._by_token[lease.token] = lease
        return lease

    def get(self, token: str | None) -> Lease | None:
        """The live lease of ``token``; ``None`` for an unknown, revoked or expired one."""
        lease = self._by_token.get(token or "")
        if lease is None:
            return None
        if self._clock() >= lease.expires_at:
            del self._by_token[lease.token]
            return None
        return lease

    def revoke(self, token: str) -> None:
        """The token is refused from now on."""
        self._by_token.pop(token, None)

    def __len__(self) -> int:
        return len(self._by_token)

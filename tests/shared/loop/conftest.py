"""The loop against the real things on loopback: MockHubServer, FakeLLMServer, redis-server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from local_emulator.fake_llm import FakeLLMServer
from local_emulator.hub import MockHub, MockHubServer
from shared.agents import AgentConfig, AgentDefinition, Skill, parse_skill
from shared.events import ActivationKind
from shared.hub import AgentRef, HubClient, Notification
from shared.limits import BehaviorLimits
from shared.llm import LLMProvider, make_provider
from shared.loop import LoopDeps, LoopRequest
from shared.streams import EffectLedger, Redis, StreamKeys
from tests.support import FIXTURES, Clock, hub_client, mock_hub

AGENT = "tester-bot"
KEY = "sk-test-0123456789"
PERSONA = "You are Tester Bot, a careful test agent.\n\nAnswer briefly."


def skill(name: str, *grants: str, body: str = "") -> Skill:
    front = f"---\nname: {name}\ndescription: the {name} skill\nrequires_grants: [{', '.join(grants)}]\n---\n"
    return parse_skill(front + (body or f"Use {name} wisely."), name=name, agent=AGENT, file=f"skills/{name}/SKILL.md")


def agent(
    *,
    grants: tuple[str, ...] = ("hub:read", "hub:write"),
    skills: tuple[Skill, ...] = (),
    limits: dict[str, int] | None = None,
    max_iterations: int = 10,
    provider: str = "anthropic",
    model: str = "claude-haiku-4-5",
) -> AgentDefinition:
    config = AgentConfig.model_validate(
        {
            "name": AGENT,
            "type": "native",
            "brain": {"provider": provider, "model": model, "max_tokens": 512},
            "capabilities": {"grants": list(grants), "skills": [s.name for s in skills]},
            "behavior": {"max_iterations": max_iterations, "limits": limits or {}},
        }
    )
    return AgentDefinition(config=config, system_prompt=PERSONA, skills=skills, missing_skills=(), origin="test")


@dataclass
class World:
    hub: MockHub
    hub_url: str
    fake: FakeLLMServer
    client: HubClient
    limits: BehaviorLimits
    ledger: EffectLedger
    clock: Clock
    providers: list[LLMProvider]
    ids: itertools.count[int]

    def provider(self, kind: str = "anthropic") -> LLMProvider:
        provider = make_provider(
            provider=kind,
            api_base=self.fake.anthropic_base_url if kind == "anthropic" else self.fake.openai_base_url,
            api_key=KEY,
            timeout_s=5.0,
            max_attempts=2,
            base_delay_s=0.01,
        )
        self.providers.append(provider)
        return provider

    def deps(self, kind: str = "anthropic", **overrides: Any) -> LoopDeps:
        options: dict[str, Any] = {
            "llm": self.provider(kind),
            "hub": self.client,
            "limits": self.limits,
            "clock": self.clock,
            "ledger": self.ledger,
        }
        options.update(overrides)
        return LoopDeps(**options)

    async def inbox(self) -> list[Notification]:
        return await self.client.notifications(AGENT)

    async def request(
        self, definition: AgentDefinition, *, activation_id: str | None = None, **overrides: Any
    ) -> LoopRequest:
        options: dict[str, Any] = {
            "agent": definition,
            "agent_ref": AgentRef(id=self.hub.require_agent(AGENT).id, name=AGENT),
            "activation_id": activation_id or f"act-{next(self.ids)}",
            "kind": ActivationKind.INBOX,
            "notifications": await self.inbox(),
            "deadline": self.clock() + 60,
            "cost_cap_usd": Decimal("1.00"),
        }
        options.update(overrides)
        return LoopRequest(**options)

    def llm_calls(self) -> list[Any]:
        return [r for r in self.fake.requests if r.path in ("/v1/messages", "/v1/chat/completions")]

    def comments(self) -> list[Any]:
        return [c for c in self.hub.content.comments if c.author.name == AGENT]

    def posts(self) -> list[Any]:
        return [p for p in self.hub.content.posts.values() if p.author.name == AGENT]


@pytest.fixture
async def world(redis: Redis, keys: StreamKeys) -> AsyncIterator[World]:
    hub = mock_hub(AGENT)
    clock = Clock()
    async with MockHubServer(hub) as server, FakeLLMServer() as fake, hub_client(server.url, max_attempts=2) as client:
        w = World(
            hub=hub,
            hub_url=server.url,
            fake=fake,
            client=client,
            limits=BehaviorLimits(redis, prefix=keys.prefix, clock=clock),
            ledger=EffectLedger(redis, keys),
            clock=clock,
            providers=[],
            ids=itertools.count(1),
        )
        yield w
        for provider in w.providers:
            await provider.aclose()


DEFINITIONS = FIXTURES / "agent-definitions"

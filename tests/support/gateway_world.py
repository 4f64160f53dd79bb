"""The activation gateway in-process, for the fuzz tests (``tests/security/test_fuzz_gateway*.py``).

``open_world`` runs the real ``Gateway`` app with its lifespan behind ``httpx.ASGITransport``
on the test's event loop, its LLM upstreams at the real fake LLM (which holds the one key
the gateway has, ``REAL_KEY``), and issues four leases: two live (``mine``, ``other``), one
expired, one revoked. ``World.run`` hands a coroutine to that loop from hypothesis's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar

import aiohttp
import httpx

from local_emulator.fake_llm import FakeLLMServer
from shared.accounting import Spending
from shared.agents import AgentConfig, AgentDefinition
from shared.gateway import Gateway, Lease, Leases, Upstream
from shared.tools import ToolSet

from .clock import Clock

REAL_KEY = "sk-upstream-PRIVATE-key-0123456789abcdef"
CAP = Decimal(1_000_000)
T = TypeVar("T")


@dataclass
class World:
    """The gateway under test, its upstream and the leases a case may present."""

    gateway: Gateway
    fake: FakeLLMServer
    client: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    mine: Lease  # both providers, and the MCP routes it was given
    other: Lease  # another activation: Anthropic only, and its own MCP routes (none unless given)
    expired: str
    revoked: str

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """``coro`` on the loop that serves the gateway and the fake, from the fuzzing thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def leases(self) -> dict[str, Lease]:
        return {"mine": self.mine, "other": self.other}


def budget(agent: str) -> Any:
    return Spending().for_activation(agent_id=agent, cost_cap_usd=CAP)


@contextlib.asynccontextmanager
async def open_world(
    *, tools: Mapping[str, ToolSet] | None = None, other_tools: Mapping[str, ToolSet] | None = None
) -> AsyncIterator[World]:
    """The gateway app with its lifespan, the fake upstream, and four leases (two live, one expired, one revoked).

    ``tools``: the MCP routes of ``mine`` (and of the expired and revoked leases, so a stale
    token would reach them were it let in); ``other_tools``: those of ``other``.
    """
    clock = Clock(1000.0)
    leases = Leases(clock=clock)
    async with (
        FakeLLMServer(api_keys=[REAL_KEY]) as fake,
        aiohttp.ClientSession(auto_decompress=False) as http,
    ):
        gateway = Gateway(leases=leases, http=http)
        ups: dict[Literal["anthropic", "openai"], Upstream] = {
            "anthropic": Upstream(api="anthropic", base_url=fake.anthropic_base_url, api_key=REAL_KEY),
            "openai": Upstream(api="openai", base_url=fake.openai_base_url, api_key=REAL_KEY),
        }
        mine = leases.issue(agent="mine", activation_id="act-mine", budget=budget("mine"), upstreams=ups, tools=tools)
        other = leases.issue(
            agent="other",
            activation_id="act-other",
            budget=budget("other"),
            upstreams={"anthropic": ups["anthropic"]},
            tools=other_tools,
        )
        expired = leases.issue(
            agent="old", activation_id="act-old", budget=budget("old"), upstreams=ups, tools=tools, ttl_s=5
        )
        revoked = leases.issue(
            agent="gone", activation_id="act-gone", budget=budget("gone"), upstreams=ups, tools=tools
        )
        leases.revoke(revoked.token)
        clock.advance(10)
        transport = httpx.ASGITransport(app=gateway.app)
        async with (
            gateway.app.router.lifespan_context(gateway.app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
        ):
            yield World(
                gateway=gateway,
                fake=fake,
                client=client,
                loop=asyncio.get_running_loop(),
                mine=mine,
                other=other,
                expired=expired.token,
                revoked=revoked.token,
            )


def coder(name: str) -> AgentDefinition:
    """A ``claude-code`` agent with the Hub grants, as the gateway's MCP routes serve one."""
    config = AgentConfig.model_validate(
        {
            "name": name,
            "type": "claude-code",
            "brain": {"model": "claude-haiku-4-5"},
            "capabilities": {"grants": ["hub:read", "hub:write"]},
            "behavior": {"limits": {"min_interval_seconds": 0}},
        }
    )
    return AgentDefinition(config=config, system_prompt="x", skills=(), missing_skills=(), origin="test")

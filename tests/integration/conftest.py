"""The activation path assembled as in production, in one event loop: the real poller handler,
the real runner handler fed by a real pump, the real metrics handler, against redis-server,
the mock Hub and the fake LLM on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry

from functions.metrics.handler import handler as metrics_handler
from functions.poller.handlers import handler as poller_handler
from local_emulator.fake_llm import FakeLLMServer
from local_emulator.hub import MockHub, MockHubServer
from shared import events as ev
from shared.activation import activation_handler
from shared.observability import with_log_context
from shared.runtime import Runtime
from shared.settings import (
    AgentSourceSettings,
    CliSettings,
    HubSettings,
    LLMSettings,
    PollerSettings,
    RunnerSettings,
    Secret,
    Settings,
)
from shared.streams import (
    Handler,
    Pump,
    Redis,
    Route,
    StreamKeys,
    StreamMetrics,
    stream_status,
)
from tests.support import ROOT, child_env, fast_settings

LLM_KEY = "sk-fake-0123456789"


def native_agent(
    name: str,
    *,
    provider: str = "anthropic",
    api_base: str | None = None,
    limits: dict[str, int] | None = None,
    grants: tuple[str, ...] = ("hub:read", "hub:write"),
) -> dict[str, Any]:
    brain: dict[str, Any] = {"provider": provider, "model": "claude-haiku-4-5", "max_tokens": 512}
    if provider == "openai":
        brain.update(model="gpt-4o-mini", api_base=api_base, api_key_env="OPENAI_API_KEY")
    return {
        "name": name,
        "type": "native",
        "brain": brain,
        "capabilities": {"grants": list(grants)},
        "behavior": {"limits": {"min_interval_seconds": 0, **(limits or {})}},
    }


@dataclass
class System:
    hub: MockHub
    hub_url: str
    fake: FakeLLMServer
    redis: Redis
    keys: StreamKeys
    settings: Settings
    runtime: Runtime
    agents_dir: Path
    poller: Handler
    runner: Handler
    stack: AsyncExitStack
    pumps: list[tuple[Pump, asyncio.Task[None]]] = field(default_factory=list)

    def add_agent(self, config: dict[str, Any], prompt: str = "You are a helpful agent on the Hub.") -> str:
        folder = self.agents_dir / "agents" / config["name"]
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        (folder / "system-prompt.md").write_text(prompt)
        return self.hub.add_agent(config["name"]).id

    async def tick(self, window_s: int = 1, *, traceparent: str | None = None) -> None:
        """One PingSource tick, handled as a function handles it (log context and trace span)."""
        ping = ev.ping(at=datetime.now(UTC), window_s=window_s)
        if traceparent is not None:
            ping["traceparent"] = traceparent
        await with_log_context(self.poller)(ping)

    async def start_runner(self) -> Pump:
        pump = Pump(
            redis=self.redis,
            keys=self.keys,
            settings=self.settings.streams,
            handler=with_log_context(self.runner),  # as serve_pump wraps it
            consumer=f"runner-{len(self.pumps)}",
            metrics=StreamMetrics(CollectorRegistry()),
            concurrency=4,
            grace_period_s=5,
        )
        task = asyncio.create_task(pump.run())
        self.pumps.append((pump, task))
        await asyncio.wait_for(pump.wait_ready(), 5)
        return pump

    def runner_process(self, log: Path, **env: str) -> subprocess.Popen[bytes]:
        """``python -m functions.runner`` on this system (its stream timings, agents, Hub and
        fake LLM), ``env`` added or overriding; its log appended to ``log``. For tests that SIGKILL it."""
        streams = self.settings.streams
        defaults = dict(
            REDIS_URL=self.settings.redis_url,
            STREAM_PREFIX=self.keys.prefix,
            LEASE_TTL_MS=str(streams.lease_ttl_ms),
            HEARTBEAT_EVERY_S=str(streams.heartbeat_every_s),
            RECLAIM_EVERY_S=str(streams.reclaim_every_s),
            RETRY_BASE_S="0.2",
            AGENTS_DIR=str(self.agents_dir),
            HUB_URL=self.hub_url,
            HUB_API_KEY=self.hub.api_key,
            ANTHROPIC_API_KEY=LLM_KEY,
            ANTHROPIC_BASE_URL=self.fake.anthropic_base_url,
            METRICS_PORT="0",
            LOG_LEVEL="info",
            PYTHONPATH=str(ROOT),
        )
        full = child_env(defaults, **env)  # what the test passes overrides the defaults (METRICS_PORT)
        with log.open("ab") as sink:
            return subprocess.Popen([sys.executable, "-m", "functions.runner"], cwd=ROOT, env=full, stderr=sink)

    async def start_metrics(self) -> Pump:
        """The metrics function fed by a pump on the results stream, flushing every 0.1 s."""
        handler = await self.stack.enter_async_context(metrics_handler(self.runtime, flush_interval_s=0.1))
        pump = Pump(
            redis=self.redis,
            keys=self.keys,
            settings=self.settings.streams,
            handler=handler,
            consumer="metrics-0",
            metrics=StreamMetrics(CollectorRegistry()),
            concurrency=4,
            grace_period_s=5,
            route=Route.results(self.keys, self.settings.streams),
        )
        task = asyncio.create_task(pump.run())
        self.pumps.append((pump, task))
        await asyncio.wait_for(pump.wait_ready(), 5)
        return pump

    async def results(self) -> list[CloudEvent]:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(self.keys.results)  # type: ignore[assignment]
        return [ev.from_fields(fields) for _, fields in entries]

    async def settled(self) -> bool:
        for stream in self.keys.activation_streams:
            status = await stream_status(self.redis, stream, self.settings.streams.group)
            if status.lag or status.pending or status.delayed:
                return False
        return True

    async def stop_pumps(self) -> None:
        for pump, _ in self.pumps:
            pump.stop()
        await asyncio.gather(*(t for _, t in self.pumps), return_exceptions=True)

    def replies_by(self, agent: str) -> list[Any]:
        return [c for c in self.hub.content.comments if c.author is not None and c.author.name == agent]


SystemFactory = Callable[..., Any]


@pytest.fixture
def hub_agents() -> list[str]:
    return []  # each test adds its own (System.add_agent)


@pytest.fixture
def system_overrides() -> dict[str, Any]:
    """Fields of the system's ``Settings`` a test module sets otherwise (``dataclasses.replace``)."""
    return {}


@pytest.fixture
async def system(
    hub: MockHub,
    server: MockHubServer,
    redis: Redis,
    redis_url: str,
    keys: StreamKeys,
    tmp_path: Path,
    system_overrides: dict[str, Any],
) -> AsyncIterator[System]:
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeLLMServer())
        agents_dir = tmp_path / "defs"
        (agents_dir / "agents").mkdir(parents=True)
        settings = Settings(
            redis_url=redis_url,
            streams=fast_settings(keys),
            runner=RunnerSettings(activation_timeout_s=30, max_cost_usd=1.0),
            poller=PollerSettings(poll_interval_s=1, min_activation_interval_s=900),
            hub=HubSettings(url=server.url, api_key=Secret(hub.api_key), timeout_s=5, max_attempts=3),
            agents=AgentSourceSettings(agents_dir=agents_dir),
            llm=LLMSettings(
                api_keys={"ANTHROPIC_API_KEY": Secret(LLM_KEY), "OPENAI_API_KEY": Secret(LLM_KEY)},
                anthropic_base_url=fake.anthropic_base_url,
                timeout_s=5,
                max_attempts=2,
            ),
            clis=CliSettings(dir=ROOT / "clis"),
            metrics_port=None,
        )
        settings = replace(settings, **system_overrides)
        runtime = Runtime.over(settings, redis, keys, CollectorRegistry())
        poller = await stack.enter_async_context(poller_handler(runtime))
        runner = await stack.enter_async_context(activation_handler(runtime))
        world = System(
            hub=hub,
            hub_url=server.url,
            fake=fake,
            redis=redis,
            keys=keys,
            settings=settings,
            runtime=runtime,
            agents_dir=agents_dir,
            poller=poller,
            runner=runner,
            stack=stack,
        )
        stack.push_async_callback(world.stop_pumps)
        yield world

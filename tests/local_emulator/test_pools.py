"""Runner pools in the emulator: each scaled on its own streams, and stopping one leaves the other's work alone.

The emulator runs in this process (its services are real child processes: the mock Hub, the
fake LLM, the functions, a private redis-server), with the pools of ``keda/``. Pausing the
exploration pool is KEDA's ``autoscaling.keda.sh/paused-replicas: "0"`` on its ScaledObject.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from local_emulator._emulator import Emulator, Options, Ports
from local_emulator._pools import load_pools
from local_emulator._redis import RedisChoice
from local_emulator.redis_server import RedisServer
from shared import events as ev
from shared.streams import connect, stream_status
from tests.local_emulator.test_emulator import _free_base
from tests.support import ROOT, child_env, eventually

pytestmark = pytest.mark.slow

NOTIFICATION, EXPLORATION = "runner-notification", "runner-exploration"


def write_agents(root: Path) -> Path:
    """``helper`` answers mentions; ``scout`` explores m/garden for questions."""
    agents = {
        "helper": {},
        "scout": {
            "interests": {"communities": ["m/garden"], "keywords": ["tomatoes"]},
            "behavior": {"discovery": {"enabled": True, "respond_to_questions": True}},
        },
    }
    for name, extra in agents.items():
        folder = root / "agents" / name
        folder.mkdir(parents=True)
        behavior = {"limits": {"min_interval_seconds": 0}, **extra.get("behavior", {})}
        config = {
            "name": name,
            "type": "native",
            "brain": {"model": "claude-haiku-4-5", "max_tokens": 256},
            "capabilities": {"grants": ["hub:read", "hub:write"]},
            "behavior": behavior,
            **({"interests": extra["interests"]} if "interests" in extra else {}),
        }
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        (folder / "system-prompt.md").write_text(f"You are {name}, a helpful agent.")
    return root / "agents"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    base = _free_base()
    with RedisServer() as redis:
        options = Options(
            agents_dir=write_agents(tmp_path / "defs"),
            ports=Ports.from_base(base, hub=base),
            logs_dir=tmp_path / "logs",
            pools=tuple(load_pools(ROOT / "keda", prefix="botburrow")),
            poll_interval_s=600.0,  # ticks only when the test sends one
            grace_s=5.0,
            status="off",
            env=child_env(LOG_LEVEL="info"),
        )
        emulator = Emulator(options, RedisChoice(redis.url, "given"))
        stop = asyncio.Event()
        running = asyncio.create_task(emulator.run(stop))
        try:
            async with httpx.AsyncClient(timeout=2) as http:

                async def up() -> bool:
                    if running.done():
                        running.result()  # raises what made it stop
                    with contextlib.suppress(httpx.HTTPError):
                        return (await http.get(emulator.addresses()["poller"] + "healthz")).status_code == 200
                    return False

                await eventually(up, timeout_s=60)
            await eventually(lambda: all(p.standby is not None for p in emulator.pools.values()), timeout_s=30)
            yield emulator
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=60)


async def hub_state(http: httpx.AsyncClient, emulator: Emulator) -> dict[str, Any]:
    answer = await http.get(emulator.addresses()["hub"] + "/_mock/state")
    return dict(answer.json())


async def test_stopping_the_exploration_pool_leaves_mentions_answered_and_discovery_waiting(
    emulator: Emulator,
) -> None:
    pools = emulator.pools
    assert {name: p.spec.mode for name, p in pools.items()} == {
        NOTIFICATION: "notification",
        EXPLORATION: "exploration",
    }
    hub = emulator.addresses()["hub"]
    redis = connect(emulator.redis_choice.url)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            pools[EXPLORATION].pause()
            garden = await http.post(
                hub + "/_mock/posts",
                json={"author": "dana", "content": "Why are my tomatoes splitting?", "community": "garden"},
            )
            assert garden.status_code == 201
            headers, body = ev.to_http(ev.ping(at=datetime.now(UTC), window_s=2))
            tick = await http.post(emulator.addresses()["poller"], headers=headers, content=body)
            assert tick.status_code < 300, tick.text
            low = emulator.keys.activations(ev.Priority.LOW)

            async def discovery_queued() -> bool:
                return (await stream_status(redis, low, "runners")).lag == 1

            await eventually(discovery_queued, timeout_s=20)
            mention = await http.post(
                hub + "/_mock/posts", json={"author": "erin", "content": "@helper are you there?"}
            )
            mention_id = mention.json()["id"]

            async def helper_replied() -> bool:
                state = await hub_state(http, emulator)
                return any(c["post_id"] == mention_id for c in state["comments"])

            await eventually(helper_replied, timeout_s=30)
            # The notification pool answered; the exploration pool never started, and its work waits.
            assert pools[EXPLORATION].runners == [] and pools[NOTIFICATION].last_decision is not None
            assert pools[NOTIFICATION].last_decision.replicas >= 1 or pools[NOTIFICATION].runners
            waiting = await stream_status(redis, low, "runners")
            assert waiting.lag == 1 and waiting.pending == 0
            state = await hub_state(http, emulator)
            assert not [c for c in state["comments"] if c["post_id"] == garden.json()["id"]]

            # Resumed, the exploration pool scales from zero on its own stream and the discovery runs.
            pools[EXPLORATION].resume()

            async def scout_commented() -> bool:
                state = await hub_state(http, emulator)
                return any(c["post_id"] == garden.json()["id"] for c in state["comments"])

            await eventually(scout_commented, timeout_s=30)
            decision = pools[EXPLORATION].last_decision
            assert decision is not None and decision.replicas >= 1
            assert {t.stream for t in pools[EXPLORATION].spec.scaler.triggers} == {low}
    finally:
        await redis.aclose()

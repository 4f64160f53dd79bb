"""A signed push webhook reaches every runner: the next activation's transcript shows the new system prompt."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from shared.activation import activation_handler
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Handler, Pump, StreamMetrics
from shared.transcripts import TranscriptStore
from tests.functions.definitions.conftest import WEBHOOK_SECRET, start_definitions
from tests.integration.conftest import System, native_agent
from tests.support import eventually

PUSH = orjson.dumps(
    {
        "ref": "refs/heads/main",
        "commits": [{"id": "1f2e3d", "added": [], "modified": ["agents/ana/system-prompt.md"], "removed": []}],
    }
)


async def system_prompt_of_next_activation(system: System, handler: Handler, runner: str, text: str) -> str:
    """Post a mention, tick the poller, let the runner ``handler`` (alone) take it: the prompt the model saw."""
    before = len(await system.results())
    system.hub.human_post("dana", f"@ana {text}")
    await system.tick()
    pump = Pump(
        redis=system.redis,
        keys=system.keys,
        settings=system.settings.streams,
        handler=handler,
        consumer=runner,
        metrics=StreamMetrics(CollectorRegistry()),
        concurrency=2,
        grace_period_s=5,
    )
    task = asyncio.create_task(pump.run())
    try:
        await asyncio.wait_for(pump.wait_ready(), 5)

        async def done() -> bool:
            return len(await system.results()) > before

        await eventually(done)
        await eventually(system.settled)
    finally:
        pump.stop()
        await task
    latest = (await system.results())[-1].get_data()
    assert latest["outcome"] == "replied", latest
    recorded = await TranscriptStore(system.redis, keys=system.keys).load(latest["activation_id"])
    assert recorded is not None
    first = next(e for e in recorded.entries if e["kind"] == "llm_request")
    return str(first["system"])


async def test_a_signed_push_reaches_every_runner_and_a_bad_signature_reaches_none(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    system.add_agent(native_agent("ana"), prompt="You are Ana, version one.")
    config = system.agents_dir / "agents" / "ana" / "config.yaml"
    config.write_text(config.read_text() + "cache_ttl: 3600\n")  # only an invalidation can change it in time
    runner_a = system.runner
    other_process = dataclasses.replace(system.runtime, registry=CollectorRegistry())
    runner_b = await system.stack.enter_async_context(activation_handler(other_process))  # its own AgentStore

    assert (await system_prompt_of_next_activation(system, runner_a, "runner-a", "hello")).startswith(
        "You are Ana, version one."
    )
    assert (await system_prompt_of_next_activation(system, runner_b, "runner-b", "hi")).startswith(
        "You are Ana, version one."
    )

    (system.agents_dir / "agents" / "ana" / "system-prompt.md").write_text("You are Ana, version two.")
    served = start_definitions(
        monkeypatch, redis_url=system.settings.redis_url, prefix=system.keys.prefix, hub_url=system.hub_url
    )
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
            forged = {"X-GitHub-Event": "push", SIGNATURE_HEADER: signature("guessed-secret", PUSH)}
            refused = await http.post("/webhook", content=PUSH, headers=forged)
            assert refused.status_code == 401
            for runner, handler in (("runner-a", runner_a), ("runner-b", runner_b)):
                seen = await system_prompt_of_next_activation(system, handler, runner, "still there?")
                assert seen.startswith("You are Ana, version one."), f"{runner}: a forged push invalidated"

            signed = {"X-GitHub-Event": "push", SIGNATURE_HEADER: signature(WEBHOOK_SECRET, PUSH)}
            accepted = await http.post("/webhook", content=PUSH, headers=signed)
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["agents"] == ["ana"]
    finally:
        served.close()

    for runner, handler in (("runner-b", runner_b), ("runner-a", runner_a)):
        seen = await system_prompt_of_next_activation(system, handler, runner, "and now?")
        assert seen.startswith("You are Ana, version two."), f"{runner} still serves the old definition"

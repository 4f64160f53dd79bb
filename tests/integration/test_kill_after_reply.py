"""A runner process SIGKILLed after posting its reply but before acknowledging: no second reply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import LLM_KEY, System, native_agent
from tests.support import ROOT, child_env, eventually

pytestmark = pytest.mark.slow


def runner_process(system: System, log: Path) -> subprocess.Popen[bytes]:
    streams = system.settings.streams
    env = child_env(
        REDIS_URL=system.settings.redis_url,
        STREAM_PREFIX=system.keys.prefix,
        LEASE_TTL_MS=str(streams.lease_ttl_ms),
        HEARTBEAT_EVERY_S=str(streams.heartbeat_every_s),
        RECLAIM_EVERY_S=str(streams.reclaim_every_s),
        RETRY_BASE_S="0.2",
        AGENTS_DIR=str(system.agents_dir),
        HUB_URL=system.hub_url,
        HUB_API_KEY=system.hub.api_key,
        ANTHROPIC_API_KEY=LLM_KEY,
        ANTHROPIC_BASE_URL=system.fake.anthropic_base_url,
        METRICS_PORT="0",
        LOG_LEVEL="info",
        PYTHONPATH=str(ROOT),
    )
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "functions.runner"], cwd=ROOT, env=env, stderr=sink)


async def test_a_runner_killed_between_reply_and_ack_causes_no_second_reply(system: System, tmp_path: Path) -> None:
    agent_id = system.add_agent(native_agent("ana"))
    system.hub.human_post("dana", "@ana are you there?")
    # After the reply lands, marking the notification read hangs: the runner is caught
    # holding a posted reply and an unacknowledged entry.
    stall = system.hub.fail("/api/v1/notifications/read", method="POST", latency_s=60, times=1)
    await system.tick()
    first = runner_process(system, tmp_path / "runner-1.log")
    try:
        await eventually(lambda: system.replies_by("ana"), timeout_s=30)
        await eventually(lambda: stall.times == 0)  # the stalled mark-read has begun
        first.kill()
        first.wait(timeout=10)
    finally:
        first.kill()
    assert [n.read for n in system.hub.notifications if n.agent_id == agent_id] == [False]

    second = runner_process(system, tmp_path / "runner-2.log")
    try:
        await eventually(system.settled, timeout_s=30)
        await eventually(lambda: all(n.read for n in system.hub.notifications if n.agent_id == agent_id))
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert len(system.replies_by("ana")) == 1
    llm_calls = [r for r in system.fake.requests if r.path == "/v1/messages"]
    assert len(llm_calls) == 1, "the retry knew the notification was answered and did not ask the model again"
    outcomes = [e.get_data()["outcome"] for e in await system.results() if e["subject"] == agent_id]
    assert outcomes == ["replied"]

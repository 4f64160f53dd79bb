"""A runner SIGKILLed after a reply through the gateway's Hub MCP route, before its ack: no second reply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import System, native_agent
from tests.support import ROOT, child_env, eventually

pytestmark = pytest.mark.slow


def runner(system: System, log: Path, **env: str) -> subprocess.Popen[bytes]:
    streams = system.settings.streams
    full = child_env(
        env,
        REDIS_URL=system.settings.redis_url,
        STREAM_PREFIX=system.keys.prefix,
        LEASE_TTL_MS=str(streams.lease_ttl_ms),
        HEARTBEAT_EVERY_S=str(streams.heartbeat_every_s),
        RECLAIM_EVERY_S=str(streams.reclaim_every_s),
        RETRY_BASE_S="0.2",
        AGENTS_DIR=str(system.agents_dir),
        HUB_URL=system.hub_url,
        HUB_API_KEY=system.hub.api_key,
        RUNNER_HANDLER="tests.support.handlers:mcp_replier",
        METRICS_PORT="0",
        LOG_LEVEL="info",
    )
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "functions.runner"], cwd=ROOT, env=full, stderr=sink)


async def test_a_reply_posted_through_mcp_is_not_posted_again_after_a_crash(system: System, tmp_path: Path) -> None:
    system.add_agent(native_agent("cli-ana"))
    post = system.hub.human_post("dana", "@cli-ana ping")
    await system.tick()
    replied = f"{system.keys.prefix}:test:replied"
    first = runner(system, tmp_path / "runner-1.log", TEST_STALL_AFTER_REPLY="1")
    try:
        await eventually(lambda: system.redis.llen(replied), timeout_s=30)
        first.kill()  # the reply is posted; the pump never acknowledged the entry
        first.wait(timeout=10)
    finally:
        first.kill()
    assert len(system.replies_by("cli-ana")) == 1

    second = runner(system, tmp_path / "runner-2.log")
    try:
        await eventually(system.settled, timeout_s=30)  # reclaimed after the lease ttl, run again, acknowledged
    finally:
        second.terminate()
        second.wait(timeout=30)
    said = [s.decode() for s in await system.redis.lrange(replied, 0, -1)]
    assert len(said) == 2, "the retried activation ran, and asked to reply again"
    assert said[1].startswith("notification") and "already answered" in said[1], said
    replies = system.replies_by("cli-ana")
    assert [(r.post_id, r.content) for r in replies] == [(post.id, "Done, via MCP.")], "posted once"

"""A runner SIGKILLed after a reply through the gateway's Hub MCP route, before its ack: no second reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import System, native_agent
from tests.support import eventually

pytestmark = pytest.mark.slow

HANDLER = "tests.support.handlers:mcp_replier"


async def test_a_reply_posted_through_mcp_is_not_posted_again_after_a_crash(system: System, tmp_path: Path) -> None:
    system.add_agent(native_agent("cli-ana"))
    post = system.hub.human_post("dana", "@cli-ana ping")
    await system.tick()
    replied = f"{system.keys.prefix}:test:replied"
    first = system.runner_process(tmp_path / "runner-1.log", RUNNER_HANDLER=HANDLER, TEST_STALL_AFTER_REPLY="1")
    try:
        await eventually(lambda: system.redis.llen(replied), timeout_s=30)
        first.kill()  # the reply is posted; the pump never acknowledged the entry
        first.wait(timeout=10)
    finally:
        first.kill()
    assert len(system.replies_by("cli-ana")) == 1

    second = system.runner_process(tmp_path / "runner-2.log", RUNNER_HANDLER=HANDLER)
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

"""A runner process SIGKILLed after posting its reply but before acknowledging: no second reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import System, native_agent
from tests.support import eventually

pytestmark = pytest.mark.slow


async def test_a_runner_killed_between_reply_and_ack_causes_no_second_reply(system: System, tmp_path: Path) -> None:
    agent_id = system.add_agent(native_agent("ana"))
    system.hub.human_post("dana", "@ana are you there?")
    # After the reply lands, marking the notification read hangs: the runner is caught
    # holding a posted reply and an unacknowledged entry.
    stall = system.hub.fail("/api/v1/notifications/read", method="POST", latency_s=60, times=1)
    await system.tick()
    first = system.runner_process(tmp_path / "runner-1.log")
    try:
        await eventually(lambda: system.replies_by("ana"), timeout_s=30)
        await eventually(lambda: stall.times == 0)  # the stalled mark-read has begun
        first.kill()
        first.wait(timeout=10)
    finally:
        first.kill()
    assert [n.read for n in system.hub.notifications if n.agent_id == agent_id] == [False]

    second = system.runner_process(tmp_path / "runner-2.log")
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

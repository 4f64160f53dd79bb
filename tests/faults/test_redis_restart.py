"""Redis SIGKILLed with mentions in flight, then restarted on its AOF: a real runner process, the
real poller and the metrics pump reconnect, and every mention is answered once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from local_emulator.redis_server import RedisServer
from shared.errors import TransientError
from tests.integration.conftest import System
from tests.support import eventually

from ._flow import AGENTS, REPLY_LATENCY_S, RUNNER_ENV, Tally, mention_everyone, replies, stop, tally, tick_until_done

pytestmark = pytest.mark.slow


async def crash_mid_flow(system: System, redis_server: RedisServer, tmp_path: Path) -> tuple[list[str], int]:
    """Mentions in flight, Redis SIGKILLed, a tick during the outage, Redis restarted on what
    it kept; returns the mentions and the runner's exit status once every mention was answered
    (or the deadline passed)."""
    mentions = mention_everyone(system)
    await system.start_metrics()
    await system.tick()
    log = tmp_path / "runner.log"
    runner = system.runner_process(log, **RUNNER_ENV)
    try:
        await eventually(lambda: sum(replies(system).values()) >= 2, timeout_s=30)
        assert sum(replies(system).values()) < len(mentions), "the kill lands with replies still in flight"
        redis_server.kill()
        with pytest.raises(TransientError):
            await system.tick()  # the poller's tick fails cleanly while Redis is down
        await asyncio.sleep(2 * REPLY_LATENCY_S)  # the replies in flight land while Redis is gone
        redis_server.restart()
        await tick_until_done(system, mentions, timeout_s=45)
        assert runner.poll() is None, f"the runner died when Redis did; its log: {log.read_text()[-3000:]}"
    finally:
        status = await stop(runner, log)
    return mentions, status


async def test_sigkill_and_restart_with_appendfsync_always_answers_every_mention_once(
    system: System, redis_server: RedisServer, tmp_path: Path
) -> None:
    """With ``appendfsync always`` a crash of Redis loses nothing: every mention made before it
    is answered exactly once, every activation that replied has its consumption reported to the
    Hub exactly once, a poller tick during the outage fails with a transient error (no crash),
    and the runner process rides it out and drains with exit status 0."""
    assert redis_server.appendfsync == "always"
    mentions, status = await crash_mid_flow(system, redis_server, tmp_path)
    figures = tally(system, mentions)
    assert figures.unanswered == [] and figures.answered_twice == []
    final = await eventually(lambda: (f := tally(system, mentions)).unreported == set() and f, timeout_s=15)
    assert isinstance(final, Tally) and len(final.repliers) == AGENTS
    assert final.reported_twice == [], "no activation's consumption is reported twice"
    assert status == 0


@pytest.mark.parametrize("appendfsync", ["everysec", None], ids=["everysec", "no-persistence"])
async def test_sigkill_and_restart_with_less_persistence_still_answers_every_mention_once(
    system: System, redis_server: RedisServer, tmp_path: Path, appendfsync: str | None
) -> None:
    """With ``appendfsync everysec``, or no persistence at all, a crash of Redis still answers
    every mention exactly once: the Hub keeps a notification unread until it is answered (the
    poller queues it again), and a reply retried after its done-marker was lost carries the same
    ``Idempotency-Key``, so the Hub answers with the comment it already has. What such a crash
    can lose is Redis's own record of the last writes (consumption reports not yet sent)."""
    assert redis_server.appendfsync == appendfsync
    mentions, status = await crash_mid_flow(system, redis_server, tmp_path)
    figures = tally(system, mentions)
    assert figures.unanswered == [] and figures.answered_twice == []
    assert status == 0

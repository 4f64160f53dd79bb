"""Redis unreachable for 20 s, then back: a runner process and a functions-framework target say
so on ``/readyz``, back off quietly, lose nothing, and work resumes within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from local_emulator.hub import DEFAULT_API_KEY
from local_emulator.redis_server import RedisServer
from shared.errors import TransientError
from shared.events import ping, to_http
from tests.integration.conftest import System, native_agent
from tests.support import ROOT, eventually, free_port
from tests.support.served import serve_target

from ._flow import stop

pytestmark = pytest.mark.slow

OUTAGE_S = 20.0
RESUME_BOUND_S = 5.0
"""From Redis answering again to the first reply on the Hub: the pump's backoff is capped at
2 s (``BACKOFF_MAX_S``), a tick and an activation take well under a second on loopback."""
MAX_WARNINGS = 40
"""Warning and error lines a runner may log over the whole outage (backoff logs the 1st, 2nd,
4th... failure of each loop; one line per retry would be hundreds)."""


def levels(log: Path, since: str) -> dict[str, int]:
    """Log lines of the runner's JSON log from ``since`` (an ISO timestamp) on, by level."""
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record["timestamp"] >= since:
            counts[record["level"]] = counts.get(record["level"], 0) + 1
    return counts


async def status(url: str) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            return (await http.get(url)).status_code
        except httpx.HTTPError:
            return 0


async def ready(url: str) -> bool:
    return await status(url) == 200


async def test_twenty_seconds_without_redis_are_ridden_out_and_work_resumes_within_seconds(
    system: System, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Redis is down, ``/readyz`` of the runner process and of the poller's
    functions-framework target answer 503, a tick (HTTP or in-process) fails cleanly, and the
    runner logs a bounded number of warnings and stays up; a mention made during the outage is
    answered exactly once, its first reply within ``RESUME_BOUND_S`` of Redis answering again,
    and both report ready again."""
    system.add_agent(native_agent("ana"))
    port = free_port()
    log = tmp_path / "runner.log"
    runner = system.runner_process(log, METRICS_PORT=str(port))
    runner_ready = f"http://127.0.0.1:{port}/readyz"
    poller = serve_target(
        monkeypatch,
        target="poller",
        source=str(ROOT / "functions" / "poller" / "main.py"),
        env={
            "REDIS_URL": system.settings.redis_url,
            "STREAM_PREFIX": system.keys.prefix,
            "HUB_URL": system.hub_url,
            "HUB_API_KEY": DEFAULT_API_KEY,
            "AGENTS_DIR": str(system.agents_dir),
        },
    )
    poller_ready = f"{poller.url}/readyz"
    try:
        await eventually(lambda: ready(runner_ready), timeout_s=30)
        assert await status(runner_ready) == 200 and await status(poller_ready) == 200

        redis_server.stop()
        down_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        started = time.monotonic()
        post = system.hub.human_post("dana", "@ana are you there?")
        with pytest.raises(TransientError):
            await system.tick()
        headers, body = to_http(ping(at=datetime.now(UTC), window_s=1), binary=True)
        async with poller.client() as http:
            tick = await http.post("/", headers=headers, content=body)
        assert tick.status_code == 503, tick.text
        assert await status(runner_ready) == 503
        assert await status(poller_ready) == 503
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
        assert runner.poll() is None, f"the runner exited while Redis was down: {log.read_text()[-3000:]}"
        assert await status(runner_ready) == 503
        counts = levels(log, down_at)
        assert counts.get("warning", 0) + counts.get("error", 0) <= MAX_WARNINGS, counts

        redis_server.restart()
        back = time.monotonic()
        while not system.replies_by("ana") and time.monotonic() - back < 30:
            with contextlib.suppress(TransientError):  # Redis may still be loading its AOF
                await system.tick()
            await asyncio.sleep(0.1)
        resumed_s = time.monotonic() - back
        assert system.replies_by("ana"), "the mention made during the outage was answered"
        assert resumed_s <= RESUME_BOUND_S, f"first reply {resumed_s:.1f}s after Redis returned"
        await eventually(system.settled, timeout_s=20)
        assert [c.post_id for c in system.replies_by("ana")] == [post.id]
        assert await status(runner_ready) == 200 and await status(poller_ready) == 200
        async with poller.client() as http:
            tick = await http.post("/", headers=headers, content=body)
        assert tick.status_code == 200, tick.text
    finally:
        poller.close()
        assert await stop(runner, log) == 0


async def test_a_runner_started_while_redis_is_down_waits_for_it_instead_of_exiting(
    system: System, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A runner process that starts during an outage (a pod rescheduled while Redis is down or
    still replaying its AOF) does not exit into a crash loop: it answers ``/healthz``, says not
    ready on ``/readyz``, logs a few ``redis.waiting`` lines, and once Redis answers it claims
    and answers the mention that waited."""
    system.add_agent(native_agent("bea"))
    redis_server.stop()
    port = free_port()
    log = tmp_path / "runner.log"
    runner = system.runner_process(log, METRICS_PORT=str(port))
    try:
        await eventually(lambda: ready(f"http://127.0.0.1:{port}/healthz"), timeout_s=30)
        assert await status(f"http://127.0.0.1:{port}/readyz") == 503
        await asyncio.sleep(4)  # several backoff rounds
        assert runner.poll() is None, f"the runner exited while Redis was down: {log.read_text()[-3000:]}"
        waiting = [json.loads(line) for line in log.read_text().splitlines() if '"redis.waiting"' in line]
        assert 1 <= len(waiting) <= 6, waiting

        redis_server.restart()
        post = system.hub.human_post("dana", "@bea did you wait for Redis?")
        await eventually(lambda: ready(f"http://127.0.0.1:{port}/readyz"), timeout_s=30)
        await system.tick()
        await eventually(lambda: system.replies_by("bea"), timeout_s=30)
        assert [c.post_id for c in system.replies_by("bea")] == [post.id]
        assert '"redis.reachable"' in log.read_text()
    finally:
        assert await stop(runner, log) == 0

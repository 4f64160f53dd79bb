"""``python -m local_emulator.hub`` as a real process: prints its URL, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, child_env

pytestmark = pytest.mark.slow

URL_LINE = re.compile(r"mock hub serving on (http://127\.0\.0\.1:\d+)")


@asynccontextmanager
async def mock_hub_process(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start the mock Hub on a free port; yield the process and the URL it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "local_emulator.hub",
        "--port",
        "0",
        "--log-level",
        "warning",
        *args,
        cwd=ROOT,
        env=child_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        match = URL_LINE.fullmatch(line.strip())
        assert match, f"first line was {line!r}"
        yield process, match[1]
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def test_serves_and_stops_on_sigterm() -> None:
    async with mock_hub_process() as (process, url):
        async with httpx.AsyncClient(base_url=url) as http:
            health = await http.get("/api/v1/health")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            agents = await http.get("/api/v1/agents", headers={"Authorization": "Bearer botburrow-local"})
            assert agents.json() == {"agents": []}, "botburrow-local is the default service key"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_help() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "local_emulator.hub", "--help", cwd=ROOT, env=child_env(), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    for option in ("--port", "--agents", "--api-key", "--webhook-url", "--webhook-secret"):
        assert option in out.decode()


async def test_agents_from_a_definitions_directory(tmp_path: Path) -> None:
    for name in ("alice", "claude-coder-1"):
        (tmp_path / "agents" / name).mkdir(parents=True)
        (tmp_path / "agents" / name / "config.yaml").write_text(f"name: {name}\n")
    (tmp_path / "agents" / "not-an-agent").mkdir()
    keys_file = tmp_path / "keys.json"
    args = ("--agents", str(tmp_path), "--api-key", "k-123", "--agent-keys-file", str(keys_file))
    async with mock_hub_process(*args) as (process, url):
        async with httpx.AsyncClient(base_url=url) as http:
            agents = await http.get("/api/v1/agents", headers={"Authorization": "Bearer k-123"})
            assert sorted(a["name"] for a in agents.json()["agents"]) == ["alice", "claude-coder-1"]
            keys = json.loads(keys_file.read_text())
            assert sorted(keys) == ["alice", "claude-coder-1"]
            own = await http.get("/api/v1/notifications", headers={"Authorization": f"Bearer {keys['alice']}"})
            assert own.status_code == 200
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_a_missing_agents_directory_is_refused(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "local_emulator.hub",
        "--agents",
        str(tmp_path / "missing"),
        cwd=ROOT,
        env=child_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert out == b"" and b"missing" in err


def test_serves_on_uvloop() -> None:
    from local_emulator.hub.__main__ import run_on_uvloop

    loops: list[object] = []

    async def record_loop() -> None:
        loops.append(asyncio.get_running_loop())

    run_on_uvloop(record_loop())
    assert type(loops[0]).__module__.startswith("uvloop")

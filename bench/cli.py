"""``python -m bench cli``: how fast each coding CLI answers a mention, in each sandbox backend.

Per executor (``claude-code``, ``opencode``, ``aider``) and backend (bubblewrap; Docker when
an engine answers and ``make cli-image`` built the image), ``runs`` activations of the fixture
``claude-coder-1`` (with that ``type``, no MCP servers) through the runner's own handler
against the embedded mock Hub and the fake LLM (``local_emulator.tryout``):

- ``cold_ms``: from the activation's start until the CLI's first LLM request reached the
  fake: the Hub reads, the sandbox's start, the CLI's own start (every run is cold: a CLI
  sandbox is made for its activation and destroyed after it);
- ``reply_ms``: from the activation's start until its reply is posted and it has finished.

p50 and max of each, in milliseconds. Goals (claude-code): cold ≤ 2500, reply ≤ 4000.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench._harness import percentile
from local_emulator._redis import redis_for_emulator
from local_emulator.tryout import PERSON, world
from shared import events as ev
from shared.executors import CLI_SPECS
from shared.executors.image import DEFAULT_TAG as CLI_IMAGE
from shared.logs import configure_logging
from shared.sandbox import DockerBackend
from shared.settings import CliSettings, SandboxBackendChoice, Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "agent-definitions"
GOALS_MS = {"claude-code": {"cold": 2500, "reply": 4000}}


def _agents(into: Path, types: list[str]) -> None:
    config = yaml.safe_load((FIXTURES / "agents" / "claude-coder-1" / "config.yaml").read_text())
    prompt = (FIXTURES / "agents" / "claude-coder-1" / "system-prompt.md").read_text()
    shutil.copytree(FIXTURES / "skills", into / "skills")
    for agent_type in types:
        folder = into / "agents" / f"bench-{agent_type}"
        folder.mkdir(parents=True)
        mine = {**config, "name": folder.name, "type": agent_type}
        mine["capabilities"] = {**config["capabilities"], "mcp_servers": []}
        mine["behavior"] = {**config["behavior"], "limits": {**config["behavior"]["limits"], "min_interval_seconds": 0}}
        (folder / "config.yaml").write_text(yaml.safe_dump(mine))
        (folder / "system-prompt.md").write_text(prompt)


def _backends(settings: Settings) -> list[SandboxBackendChoice]:
    found = [SandboxBackendChoice.BWRAP] if shutil.which("bwrap") else []
    docker = DockerBackend(base_url=settings.sandbox.docker_host)
    try:
        if docker.available() and docker.has_image(CLI_IMAGE):
            found.append(SandboxBackendChoice.DOCKER)
    finally:
        docker.close()
    return found


async def _measure(settings: Settings, agents: Path, agent_type: str, runs: int) -> dict[str, Any]:
    name = f"bench-{agent_type}"
    colds: list[float] = []
    replies: list[float] = []
    with redis_for_emulator(None) as redis:
        async with world(settings, agents, "anthropic", redis.url, []) as (tried, hub):
            agent = hub.require_agent(name)
            fake = _fake_of(tried)
            for i in range(runs):
                post = hub.human_post(PERSON, f"@{name} bench run {i}: can you review my PR?")
                notes = [n.id for n in hub.inbox(agent, unread_only=True)]
                event = ev.activation_requested(
                    agent_id=agent.id,
                    agent_name=name,
                    kind=ev.ActivationKind.INBOX,
                    requested_at=datetime.now(UTC),
                    notification_ids=notes,
                    priority=ev.Priority.HIGH,
                    reason="bench cli",
                )
                seen = len(fake.requests)
                started = time.monotonic()
                [completed] = await tried.handler(event)
                replies.append(time.monotonic() - started)
                data = completed.get_data() or {}
                if data.get("outcome") != "replied" or not [c for c in hub.content.comments if c.post_id == post.id]:
                    raise RuntimeError(f"{agent_type}: run {i} did not reply: {data}")
                colds.append(fake.requests[seen].received_at - started)
    return {
        "runs": runs,
        "cold_ms": {"p50": _ms(colds, 50), "max": _ms(colds, 100)},
        "reply_ms": {"p50": _ms(replies, 50), "max": _ms(replies, 100)},
    }


def _fake_of(tried: Any) -> Any:
    fake = tried.fake
    if fake is None:
        raise RuntimeError("bench cli runs against the fake LLM: unset the provider keys")
    return fake


def _ms(samples: list[float], q: float) -> float:
    return round(percentile(samples, q) * 1000, 1)


async def run(*, runs: int = 5) -> dict[str, Any]:
    configure_logging(level="warning", json=False)  # stdout carries the JSON only
    settings = Settings.from_env()
    types = [spec.name for spec in CLI_SPECS if spec.binary(ROOT / "clis").exists()]
    results: dict[str, Any] = {"runs": runs, "executors": {}}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        agents = Path(tmp)
        _agents(agents, types)
        for backend in _backends(settings):
            tried = replace(
                settings,
                sandbox=replace(settings.sandbox, backend=backend),
                clis=replace(CliSettings(), dir=ROOT / "clis"),
            )
            for agent_type in types:
                measured = await _measure(tried, agents, agent_type, runs)
                goals = GOALS_MS.get(agent_type)
                if goals:
                    measured["goals_met"] = (
                        measured["cold_ms"]["p50"] <= goals["cold"] and measured["reply_ms"]["p50"] <= goals["reply"]
                    )
                results["executors"].setdefault(agent_type, {})[backend.value] = measured
    return results

"""``botburrow try AGENT --agents DIR``: one activation of an agent, here and now, for its author.

A person mentions the agent on an embedded mock Hub (with ``--message``), and the
runner's own activation handler answers it: the agent's definition from DIR, its
skills, grants, limits, MCP servers, the built-in loop. The model is the fake LLM,
unless the key the agent's brain names is set (then its real provider, unchanged);
``--script FILE`` gives the fake LLM scripts to play (``[[script:NAME]]`` in the message).
Redis is ``REDIS_URL`` when set (pinned tool definitions, limits and transcripts
persist from one try to the next), else a private redis-server, else an embedded one.

It prints the activation's transcript and the reply; with ``--json`` one JSON object per
transcript entry and, last, the ``com.botburrow.activation.completed`` data. Exit 0
when the activation completed, 1 when it failed, 2 on bad usage (no such agent).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
from prometheus_client import CollectorRegistry

from shared import events as ev
from shared.activation import activation_handler
from shared.agents import AgentStore, DirectorySource
from shared.errors import BotburrowError
from shared.runtime import Runtime
from shared.settings import AgentSourceSettings, HubSettings, LLMSettings, Secret, Settings
from shared.streams import StreamKeys, connect
from shared.transcripts import TranscriptStore, render

from ._redis import redis_for_emulator
from .fake_llm import FakeLLMServer, Script, load_script_file
from .hub import DEFAULT_API_KEY, MockHub, MockHubServer

ROOT = Path(__file__).resolve().parent.parent
PERSON = "dana"
FAKE_KEY = "sk-try-fake"


async def run(
    agent_name: str,
    agents_dir: Path,
    *,
    message: str | None,
    settings: Settings,
    redis_url: str | None,
    as_json: bool,
    script: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run one activation of ``agent_name``; print what happened; the exit status."""
    try:
        definition = await AgentStore(DirectorySource(agents_dir)).get(agent_name)
    except BotburrowError as exc:
        print(f"botburrow try: {exc}", file=sys.stderr)
        return 2
    scripts: list[Script] = []
    if script is not None:
        try:
            scripts = list(load_script_file(script).scripts)
        except (OSError, ValueError) as exc:
            print(f"botburrow try: --script {script}: {exc}", file=sys.stderr)
            return 2
    text = message or f"Hello @{agent_name}! What can you do?"
    if f"@{agent_name}" not in text:
        text = f"@{agent_name} {text}"
    with redis_for_emulator(redis_url) as choice:
        async with world(settings, agents_dir, definition.config.brain.provider, choice.url, scripts) as (tried, hub):
            agent = hub.require_agent(agent_name)
            post = hub.human_post(PERSON, text)
            notes = [n.id for n in hub.inbox(agent, unread_only=True)]
            event = ev.activation_requested(
                agent_id=agent.id,
                agent_name=agent_name,
                kind=ev.ActivationKind.INBOX,
                requested_at=datetime.now(UTC),
                notification_ids=notes,
                priority=ev.Priority.HIGH,
                reason="botburrow try",
            )
            failure: BaseException | None = None
            completed: dict[str, Any] = {}
            try:
                outcome = await tried.handler(event)
                completed = outcome[0].get_data() if outcome else {}
            except Exception as exc:
                failure = exc
            recorded = await tried.transcripts.load(str(event["id"]))
            entries = recorded.entries if recorded else []
            replies = [c for c in hub.content.comments if c.author.name == agent_name and c.post_id == post.id]
    if as_json:
        for entry in entries:
            print(orjson.dumps(entry).decode(), file=out)
        print(orjson.dumps(completed or {"outcome": "failed", "error": str(failure)}).decode(), file=out)
    else:
        print(render(entries), file=out)
        print(f"\n{PERSON}: {text}", file=out)
        for reply in replies:
            print(f"{agent_name}: {reply.content}", file=out)
        if not replies:
            print(f"({agent_name} posted no reply: {completed.get('outcome') or failure})", file=out)
    if failure is not None:
        print(f"botburrow try: the activation failed: {failure}", file=sys.stderr)
        return 1
    return 0


class World:
    """The runner's activation handler, and the transcripts it writes (``botburrow try``, ``bench cli``)."""

    def __init__(self, handler: Any, transcripts: TranscriptStore, fake: FakeLLMServer | None) -> None:
        self.handler = handler
        self.transcripts = transcripts
        self.fake = fake  # None when the agent's real provider answers


@asynccontextmanager
async def world(
    settings: Settings, agents_dir: Path, provider: str, redis_url: str, scripts: list[Script]
) -> AsyncIterator[tuple[World, MockHub]]:
    """The runner's activation handler over an embedded mock Hub, the fake LLM unless a key is set."""
    hub = MockHub(id_tag=f"{uuid.uuid4().hex[:6]}-")  # each try is a fresh activation, whatever Redis holds
    for folder in _agent_names(agents_dir):
        hub.add_agent(folder)
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(MockHubServer(hub))
        llm = settings.llm
        key_var = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "google": "GOOGLE_API_KEY"}
        fake: FakeLLMServer | None = None
        if not llm.key(key_var.get(provider, "")):
            fake = await stack.enter_async_context(FakeLLMServer(scripts=scripts, voices=True))
            fake_keys = {name: Secret(FAKE_KEY) for name in key_var.values()}
            llm = LLMSettings(
                api_keys={**llm.api_keys, **fake_keys},
                anthropic_base_url=fake.anthropic_base_url,
                openai_base_url=fake.openai_base_url,
                timeout_s=llm.timeout_s,
                max_attempts=llm.max_attempts,
            )
        mcp = settings.mcp
        if "MCP_SERVERS_DIR" not in os.environ and (ROOT / "mcp-servers").is_dir():
            mcp = replace(mcp, servers_dir=ROOT / "mcp-servers")
        clis = settings.clis
        if "CLI_DIR" not in os.environ and (ROOT / "clis").is_dir():
            clis = replace(clis, dir=ROOT / "clis")  # a checkout's `make clis`
        tried = replace(
            settings,
            redis_url=redis_url,
            hub=HubSettings(url=server.url, api_key=Secret(DEFAULT_API_KEY), timeout_s=10, max_attempts=2),
            agents=AgentSourceSettings(agents_dir=agents_dir),
            llm=llm,
            mcp=mcp,
            clis=clis,
            metrics_port=None,
        )
        redis = connect(redis_url)
        stack.push_async_callback(redis.aclose)
        keys = StreamKeys(tried.streams.prefix)
        runtime = Runtime.over(tried, redis, keys, CollectorRegistry())
        handler = await stack.enter_async_context(activation_handler(runtime))
        transcripts = TranscriptStore(redis, keys=keys)
        yield World(handler, transcripts, fake), hub


def _agent_names(agents_dir: Path) -> list[str]:
    root = agents_dir / "agents" if (agents_dir / "agents").is_dir() else agents_dir
    with contextlib.suppress(OSError):
        return sorted(p.name for p in root.iterdir() if (p / "config.yaml").is_file())
    return []

"""Mentions in flight through the real poller, a real runner process and the metrics pump, while
the test does something to Redis; then what the Hub saw, per mention and per activation."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from shared.errors import TransientError
from tests.integration.conftest import System, native_agent

AGENTS = 6
MENTIONS_PER_AGENT = 2
REPLY_LATENCY_S = 0.5
"""Each reply's POST waits this long on the mock Hub, so a kill lands with replies in flight."""
RUNNER_ENV = {"RUNNER_CONCURRENCY": "2"}
"""Two activations at a time: the agents' replies land over a few seconds, not all at once."""


@dataclass
class Tally:
    """What the Hub and the results stream show once the work has drained."""

    mentions: list[str]  # post ids of the mentions made before the fault
    replies: Counter[str]  # post id -> agent replies on it
    consumption: Counter[str]  # activation id -> consumption records on the Hub
    repliers: set[str]  # ids of the agents that replied
    reporters: set[str]  # ids of the agents with consumption reported

    @property
    def unanswered(self) -> list[str]:
        return [m for m in self.mentions if self.replies[m] == 0]

    @property
    def answered_twice(self) -> list[str]:
        return [m for m in self.mentions if self.replies[m] > 1]

    @property
    def unreported(self) -> set[str]:
        """Agents that replied but whose spending never reached the Hub."""
        return self.repliers - self.reporters

    @property
    def reported_twice(self) -> list[str]:
        return [a for a, n in self.consumption.items() if n > 1]


def mention_everyone(system: System) -> list[str]:
    """``AGENTS`` agents, each mentioned ``MENTIONS_PER_AGENT`` times; the mentions' post ids."""
    posts = []
    for i in range(AGENTS):
        name = f"agent-{i}"
        system.add_agent(native_agent(name))
        for j in range(MENTIONS_PER_AGENT):
            posts.append(system.hub.human_post("dana", f"@{name} question {j}?").id)
    system.hub.fail("/api/v1/posts/*/comments", method="POST", latency_s=REPLY_LATENCY_S, times=10_000)
    return posts


def replies(system: System) -> Counter[str]:
    return Counter(c.post_id for c in system.hub.content.comments if c.author.kind == "agent")


async def tick_until_done(system: System, mentions: list[str], *, timeout_s: float) -> None:
    """Tick the poller every second (a failed tick is retried next second, as PingSource does)
    until every mention is answered and the streams are settled, or ``timeout_s`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            await system.tick()
            if all(replies(system)[m] for m in mentions) and await system.settled():
                return
        except TransientError:
            pass
        await asyncio.sleep(1.0)


def tally(system: System, mentions: list[str]) -> Tally:
    agent_replies = [c for c in system.hub.content.comments if c.author.kind == "agent"]
    return Tally(
        mentions=mentions,
        replies=Counter(c.post_id for c in agent_replies),
        consumption=Counter(str(r.body["activation_id"]) for r in system.hub.consumption),
        repliers={c.author.id for c in agent_replies},
        reporters={r.agent_id for r in system.hub.consumption if r.cost_usd > 0},
    )


async def stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM a runner process; its exit status (it must drain and exit 0).

    Waited for off the loop: the mock Hub and the fake LLM it is draining against run on it.
    """
    process.terminate()
    try:
        return await asyncio.to_thread(process.wait, 30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the runner did not drain within 30 s; its log: {log.read_text()[-3000:]}") from None

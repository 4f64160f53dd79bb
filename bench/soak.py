"""Soak: mixed work for minutes while faults land on a schedule; nothing lost, nothing twice, memory flat.

Every function runs as a process on loopback as in ``bench e2e`` (ingest fed by the mock
Hub's signed webhooks, the poller by PingSource-style ticks, runners, the metrics
function), over a redis-server with the AOF the deployment documents
(``appendfsync everysec``). The load, for the whole run:

- people mention agents on the mock Hub, one mention a second;
- people post questions where two explorer agents look, so discovery activations act;
- operators' webhooks (bearer-token CloudEvents) arrive at ingest every few seconds.

Faults, one every few seconds until the last minute, in a fixed rotation: a runner
SIGKILLed and restarted, redis-server SIGKILLed and restarted from its AOF, Hub windows
(5xx on every endpoint, responses slower than the client's timeout, connections reset
after a comment landed), LLM windows (429 with ``retry-after``, 529 storms, streams cut
mid-response, calls that hang past the timeout). Then the faults stop and the run
drains until every mention is answered (or the drain deadline).

Reported: ``mentions`` posted, ``replies`` (mentions answered), ``lost`` (mentions never
answered), ``duplicates`` (replies beyond the first per mention, plus discovery comments
beyond the first per agent and post), ``faults_injected`` (and ``faults`` by kind),
``max_rss_mb_per_process`` and ``rss_growth_mb`` (per process of ours that lived the whole
run: its resident memory over the last samples less over the samples at the end of
warm-up; restarted runners are in the maximum, not in the growth; the mock Hub and the
fake LLM, which keep every post and request they were sent, in ``rss_growth_mb_fakes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.e2e import Fleet, Ports, fleet, function_env, start_functions, write_agent, write_agents
from local_emulator.pingsource import ping_source
from local_emulator.redis_server import RedisServer

PING_EVERY_S = 10.0
MENTION_EVERY_S = 1.0
DISCOVERY_POST_EVERY_S = 8.0
WEBHOOK_EVERY_S = 5.0
RSS_EVERY_S = 5.0
WARM_UP_S = 60.0  # memory is compared from here: imports, caches and pools have filled by then
QUIET_TAIL_S = 60.0  # no new faults in the run's last minute
FAULT_WINDOW_S = 6.0
FAULT_EVERY_S = 9.5  # 25 faults in a 5-minute run
FAKES = ("hub", "fake-llm")  # they keep what they were sent (posts, requests) by design: not ours to hold flat
DRAIN_S = 300.0
EXPLORERS = ("soak-explorer-a", "soak-explorer-b")
COMMUNITY = "soak-help"
MENTIONED_AGENTS = 6
RUNNERS = 2  # runner-0 lives the whole run (its memory is watched); runner-1 is the one killed
SETTINGS = {
    # Small timings, so a fault window spans retries and a breaker decision within the run.
    "HUB_TIMEOUT_S": "2",
    "LLM_TIMEOUT_S": "3",
    "RETRY_BASE_S": "0.5",
    "MIN_ACTIVATION_INTERVAL": "15",
    "LEASE_TTL_MS": "5000",
    "HEARTBEAT_EVERY_S": "1.25",
    "RECLAIM_EVERY_S": "2",
}


@dataclass
class Faults:
    """What the run injected, by kind."""

    by_kind: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def write_explorers(root: Path) -> None:
    """Two native agents that do only discovery: questions in m/soak-help with the word "error"."""
    behavior = {
        "limits": {"max_daily_comments": 100_000, "min_interval_seconds": 0},
        "discovery": {"enabled": True, "frequency": "staleness", "respond_to_questions": True},
    }
    interests = {"communities": [f"m/{COMMUNITY}"], "keywords": ["error"]}
    for name in EXPLORERS:
        prompt = f"You are {name}, who answers questions about errors.\n"
        write_agent(root, name, prompt=prompt, behavior=behavior, interests=interests)


class Injector:
    """One fault after another, each a real failure of a real part."""

    def __init__(self, *, fleet: Fleet, redis: RedisServer, http: aiohttp.ClientSession, hub_url: str, llm_url: str):
        self.fleet, self.redis, self.http, self.hub_url, self.llm_url = fleet, redis, http, hub_url, llm_url
        self.faults = Faults()
        self.rotation: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("runner_kill", self.runner_kill),
            ("hub_5xx", lambda: self.hub_fault({"path": "/api/v1/*", "status": 503})),
            ("llm_429", lambda: self.llm_fault({"kind": "rate_limit", "retry_after_s": 1})),
            ("hub_slow", lambda: self.hub_fault({"path": "/api/v1/*", "latency_s": 3.0})),
            ("redis_restart", self.redis_restart),
            ("llm_529", lambda: self.llm_fault({"kind": "overloaded"})),
            ("hub_reset_after_write", self.hub_reset_after_write),
            ("runner_kill", self.runner_kill),
            ("llm_stream_cut", lambda: self.llm_fault({"kind": "overloaded", "in_stream": True})),
            ("llm_timeout", lambda: self.llm_fault({"kind": "hang"}, times=2)),
        ]

    async def inject(self, n: int) -> None:
        kind, fault = self.rotation[n % len(self.rotation)]
        try:
            await fault()
        except Exception as exc:  # a fault that could not be injected is reported, not counted
            self.faults.errors.append(f"{kind}: {exc!r}")
            return
        self.faults.by_kind[kind] += 1

    async def runner_kill(self) -> None:
        self.fleet.kill_and_restart(f"runner-{RUNNERS - 1}")

    async def redis_restart(self) -> None:
        self.redis.kill()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self.redis.restart)

    async def hub_fault(self, fault: dict[str, Any]) -> None:
        await self._post(f"{self.hub_url}/_mock/faults", {**fault, "for_s": FAULT_WINDOW_S})

    async def hub_reset_after_write(self) -> None:
        fault = {"path": "/api/v1/posts/*/comments", "method": "POST", "after": True, "drop": True, "times": 3}
        await self._post(f"{self.hub_url}/_mock/faults", fault)

    async def llm_fault(self, fault: dict[str, Any], *, times: int | None = None) -> None:
        window = {"times": times} if times is not None else {"for_s": FAULT_WINDOW_S}
        await self._post(f"{self.llm_url}/_fake/faults", {**fault, **window})

    async def clear(self) -> None:
        for url in (f"{self.hub_url}/_mock/faults", f"{self.llm_url}/_fake/faults"):
            async with self.http.delete(url) as response:
                response.raise_for_status()

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        async with self.http.post(url, json=body) as response:
            if response.status >= 300:
                raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")


class Memory:
    """Resident memory of every process, sampled through the run."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.pids_at_start: dict[str, int] = {}

    def sample(self, at: float) -> None:
        if not self.pids_at_start:
            self.pids_at_start = {name: p.pid for name, p in self.fleet.processes}
        self.samples.append((at, self.fleet.rss_mb()))

    def figures(self, warm_up_s: float) -> tuple[dict[str, float], dict[str, float]]:
        highest: dict[str, float] = {}
        for _, rss in self.samples:
            for name, mb in rss.items():
                highest[name] = max(highest.get(name, 0.0), mb)
        lived = {n for n, p in self.fleet.processes if self.pids_at_start.get(n) == p.pid}
        after = [rss for at, rss in self.samples if at >= warm_up_s]
        growth: dict[str, float] = {}
        if len(after) >= 6:
            for name in sorted(lived):
                first = statistics.median(r.get(name, 0.0) for r in after[:3])
                last = statistics.median(r.get(name, 0.0) for r in after[-3:])
                growth[name] = round(last - first, 1)
        return {n: round(mb, 1) for n, mb in sorted(highest.items())}, growth


async def run(*, minutes: float = 5.0) -> dict[str, Any]:
    if minutes <= 0:
        raise ValueError("--minutes must be more than 0")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        names = write_agents(work / "defs", MENTIONED_AGENTS)
        write_explorers(work / "defs")
        server = RedisServer(appendfsync="everysec")
        with server:
            return await _run(work, server, names, minutes=minutes)


async def _run(work: Path, server: RedisServer, names: list[str], *, minutes: float) -> dict[str, Any]:
    ports = Ports()
    ingest_token = secrets.token_urlsafe(24)
    env = {**function_env(server.url, work / "defs", ports, kind="soak"), **SETTINGS, "INGEST_TOKEN": ingest_token}
    logs = Path(os.environ.get("BENCH_LOGS", work))
    logs.mkdir(parents=True, exist_ok=True)
    with fleet(logs) as f:
        await start_functions(f, env, ports, work / "defs", runners=RUNNERS)
        async with (
            aiohttp.ClientSession(ports.url(ports.hub), timeout=aiohttp.ClientTimeout(total=30)) as hub,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        ):
            hub_url, llm_url = ports.url(ports.hub), ports.url(ports.llm)
            injector = Injector(fleet=f, redis=server, http=http, hub_url=hub_url, llm_url=llm_url)
            pushes = Webhooks(http, f"{ports.url(ports.ingest)}/", ingest_token)
            return await _soak(f, hub, names, injector, pushes, ports.url(ports.poller), minutes)


async def _soak(
    f: Fleet,
    hub: aiohttp.ClientSession,
    names: list[str],
    injector: Injector,
    pushes: Webhooks,
    poller_url: str,
    minutes: float,
) -> dict[str, Any]:
    ticks = asyncio.create_task(ping_source(poller_url, every_s=PING_EVERY_S))
    memory = Memory(f)
    mentions: list[str] = []
    duration_s = minutes * 60
    fault_phase_s = max(duration_s - QUIET_TAIL_S, duration_s * 0.8)
    fault_count = max(1, round(fault_phase_s / FAULT_EVERY_S))
    try:
        # Warm-up before the clock: one answered mention per agent (imports, first loads).
        await asyncio.gather(*(_post_as_person(hub, f"@{n} warming up?") for n in names))
        warmed = await _until(lambda: _answered(hub, names, set()), timeout_s=120)
        if not {_by(c) for c in warmed["comments"]} >= set(names):
            raise RuntimeError("the warm-up mentions were not answered within 120 s: see BENCH_LOGS")
        started = time.monotonic()

        async def every(period_s: float, action: Callable[[int], Awaitable[None]]) -> None:
            n = 0
            while time.monotonic() - started < duration_s:
                await action(n)
                n += 1
                await asyncio.sleep(max(0.0, started + n * period_s - time.monotonic()))

        async def mention(n: int) -> None:
            mentions.append(await _post_as_person(hub, f"@{names[n % len(names)]} soak question number {n}?"))

        async def discovery_post(n: int) -> None:
            text = f"Why does this build error {n} keep coming back?"
            await _post_as_person(hub, text, community=COMMUNITY)

        async def webhook(n: int) -> None:
            await pushes.push(names[n % len(names)], n)

        async def fault(n: int) -> None:
            if time.monotonic() - started < fault_phase_s and n < fault_count:
                await injector.inject(n)

        async def rss(_: int) -> None:
            memory.sample(time.monotonic() - started)

        loops = [
            every(MENTION_EVERY_S, mention),
            every(DISCOVERY_POST_EVERY_S, discovery_post),
            every(WEBHOOK_EVERY_S, webhook),
            every(fault_phase_s / fault_count, fault),
            every(RSS_EVERY_S, rss),
        ]
        await asyncio.gather(*loops)
        await injector.clear()
        drain_started = time.monotonic()
        state = await _until(lambda: _answered(hub, names, set(mentions)), timeout_s=DRAIN_S)
        drained_s = time.monotonic() - drain_started
        memory.sample(time.monotonic() - started)
    finally:
        ticks.cancel()
    highest, growth = memory.figures(WARM_UP_S)
    return {
        **_tally(state, set(mentions), set(names)),
        "faults_injected": injector.faults.total,
        "faults": dict(sorted(injector.faults.by_kind.items())),
        "fault_errors": injector.faults.errors,
        "webhooks": dict(pushes.answers),
        "max_rss_mb_per_process": highest,
        "rss_growth_mb": {name: mb for name, mb in growth.items() if name not in FAKES},
        "rss_growth_mb_max": max((mb for name, mb in growth.items() if name not in FAKES), default=0.0),
        "rss_growth_mb_fakes": {name: mb for name, mb in growth.items() if name in FAKES},
        "minutes": minutes,
        "drain_s": round(drained_s, 1),
    }


async def _post_as_person(hub: aiohttp.ClientSession, content: str, *, community: str | None = None) -> str:
    body: dict[str, Any] = {"author": "person", "content": content}
    if community is not None:
        body["community"] = community
    async with hub.post("/_mock/posts", json=body) as response:
        response.raise_for_status()
        return str((await response.json())["id"])


class Webhooks:
    """CloudEvents asking for an agent's inbox, as an operator's curl sends them to ingest."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token
        self.answers: Counter[str] = Counter()

    async def push(self, agent: str, n: int) -> None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "ce-specversion": "1.0",
            "ce-type": "com.botburrow.hub.notification.created",
            "ce-source": "soak",
            "ce-id": f"soak-{n}",
        }
        try:
            async with self.http.post(self.url, json={"agent_id": agent}, headers=headers) as response:
                self.answers[f"{response.status // 100}xx"] += 1
        except (aiohttp.ClientError, TimeoutError):
            self.answers["no answer"] += 1


async def _state(hub: aiohttp.ClientSession) -> dict[str, Any]:
    async with hub.get("/_mock/state") as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json()
        return body


async def _answered(hub: aiohttp.ClientSession, names: list[str], mentions: set[str]) -> tuple[bool, dict[str, Any]]:
    """The Hub's state, and whether every mention in ``mentions`` has a reply (none given: each agent replied)."""
    state = await _state(hub)
    by_agents = [c for c in state["comments"] if _by(c) in names]
    if mentions:
        return mentions <= {c["post_id"] for c in by_agents}, state
    return {_by(c) for c in by_agents} >= set(names), state


async def _until(
    probe: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]], *, timeout_s: float, every_s: float = 2.0
) -> dict[str, Any]:
    """The state once ``probe`` says done and a little after (a late duplicate shows itself), or at the deadline."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {"comments": [], "consumption": []}
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            done, state = await probe()
            if done:
                await asyncio.sleep(every_s * 2)
                return (await probe())[1]
        await asyncio.sleep(every_s)
    return state


def _tally(state: dict[str, Any], mentions: set[str], names: set[str]) -> dict[str, Any]:
    comments = state["comments"]
    replies = Counter(c["post_id"] for c in comments if c["post_id"] in mentions and _by(c) in names)
    discovered = Counter((_by(c), c["post_id"]) for c in comments if _by(c) in EXPLORERS)
    return {
        "mentions": len(mentions),
        "replies": len(replies),
        "lost": len(mentions - set(replies)),
        "duplicates": sum(n - 1 for n in replies.values()) + sum(n - 1 for n in discovered.values()),
        "discovery_comments": sum(discovered.values()),
        "consumption_records": len(state.get("consumption", [])),
    }


def _by(comment: dict[str, Any]) -> str:
    return str((comment.get("author") or {}).get("name"))

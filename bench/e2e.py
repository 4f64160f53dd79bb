"""End to end: mentions on the mock Hub become replies, with every function running as in production.

A private redis-server, the mock Hub and the fake LLM as processes on loopback; the
ingest target fed by the mock Hub's signed notification webhook and the poller's target
by PingSource-style ticks (each long-polling the Hub for most of the interval to the
next), both as functions-framework HTTP targets; two runner processes and the metrics function fed by their
pumps. People (not agents) post mentions through the mock Hub's API; latency is
mention created → reply visible on the Hub, both stamped by the Hub's clock.
``activations_per_s`` counts mentions answered per second (one activation may answer
several mentions of an agent; ``consumption_records`` counts the activations).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import yaml

from bench._harness import CLOCK_TICKS, ROOT, fresh_prefix, percentile, redis_for_bench
from functions.__main__ import server_argv
from local_emulator.pingsource import ping_source

API_KEY = "botburrow-local"
PING_EVERY_S = 10.0  # Knative's PingSource ticks each minute; shorter here so a run ends without a long tick in flight
TUNABLES = ("DEFER_BASE_S", "DEFER_MAX_S", "RUNNER_CONCURRENCY", "PRIORITY_WEIGHTS", "HUB_TIMEOUT_S", "LLM_TIMEOUT_S")
MODEL = "claude-haiku-4-5"
MENTIONS_AT_ONCE = 32
# libyaml's dumper where there is one: the scale bench writes 100,000 definitions.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_agent(root: Path, name: str, *, prompt: str, behavior: dict[str, Any], **extra: Any) -> None:
    """A native agent ``name`` on the fake LLM's Anthropic route under ``root/agents``."""
    folder = root / "agents" / name
    folder.mkdir(parents=True)
    config = {
        "name": name,
        "type": "native",
        "brain": {"provider": "anthropic", "model": MODEL, "max_tokens": 256},
        "capabilities": {"grants": ["hub:read", "hub:write"]},
        "behavior": behavior,
        **extra,
    }
    (folder / "config.yaml").write_text(yaml.dump(config, Dumper=_DUMPER))
    (folder / "system-prompt.md").write_text(prompt)


def write_agents(root: Path, count: int) -> list[str]:
    names = [f"bench-agent-{i:02d}" for i in range(count)]
    limits = {
        "max_daily_posts": 1000,
        "max_daily_comments": 100_000,
        "max_responses_per_thread": 1000,
        "min_interval_seconds": 0,
    }
    for name in names:
        write_agent(root, name, prompt=f"You are {name}, a terse benchmark agent.\n", behavior={"limits": limits})
    return names


class Fleet:
    """The processes of one run; all stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as sink:
            process = subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=sink, stderr=sink)
        self.processes.append((name, process))
        self._commands[name] = (argv, dict(env))
        return process

    def process(self, name: str) -> subprocess.Popen[bytes]:
        """The live process started as ``name`` (the latest, when it was restarted)."""
        return next(p for n, p in reversed(self.processes) if n == name)

    def kill_and_restart(self, name: str) -> subprocess.Popen[bytes]:
        """SIGKILL the process ``name`` (no drain, as a node loss does) and start it again."""
        victim = self.process(name)
        with contextlib.suppress(ProcessLookupError):
            victim.kill()
        victim.wait()
        self.processes = [(n, p) for n, p in self.processes if p is not victim]
        argv, env = self._commands[name]
        return self.start(name, argv, env)

    def _trees(self, stats: dict[int, tuple[int, float]]) -> dict[str, list[int]]:
        """Each process's pid with its descendants' (gunicorn's worker)."""
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        trees: dict[str, list[int]] = {}
        for name, process in self.processes:
            pending, tree = [process.pid], []
            while pending:
                pid = pending.pop()
                tree.append(pid)
                pending += children.get(pid, [])
            trees[name] = tree
        return trees

    def pids(self, name: str) -> list[int]:
        """The pid of the process ``name`` and its descendants' (gunicorn's workers)."""
        return self._trees(_proc_stats())[name]

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds each process and its descendants have used so far."""
        stats = _proc_stats()
        return {name: sum(stats.get(pid, (0, 0.0))[1] for pid in tree) for name, tree in self._trees(stats).items()}

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each process with its descendants, in MB."""
        return {name: sum(map(_rss_kb, tree)) / 1024 for name, tree in self._trees(_proc_stats()).items()}

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _rss_kb(pid: int) -> int:
    """``VmRSS`` of ``pid`` in kB (0 once it is gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _proc_stats() -> dict[int, tuple[int, float]]:
    """Every process's parent pid and CPU seconds (user + system), from /proc."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return stats


@contextlib.contextmanager
def fleet(logs: Path) -> Iterator[Fleet]:
    f = Fleet(logs)
    try:
        yield f
    finally:
        f.stop()


async def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, timeout=1)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@dataclass(frozen=True)
class Ports:
    """Where one run's mock Hub, fake LLM, poller and ingest listen (free loopback ports)."""

    hub: int = field(default_factory=free_port)
    llm: int = field(default_factory=free_port)
    poller: int = field(default_factory=free_port)
    ingest: int = field(default_factory=free_port)

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"


def function_env(redis_url: str, defs: Path, ports: Ports, *, kind: str) -> dict[str, str]:
    """The settings every process of a run reads: this run's Redis, agents, Hub and fake LLM, nothing of ours."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": fresh_prefix(kind),
        "AGENTS_DIR": str(defs),
        "HUB_URL": ports.url(ports.hub),
        "HUB_API_KEY": API_KEY,
        "HUB_WEBHOOK_SECRET": secrets.token_urlsafe(24),  # the mock Hub signs, ingest checks
        "ANTHROPIC_API_KEY": "sk-bench-fake",
        "ANTHROPIC_BASE_URL": ports.url(ports.llm),
        "METRICS_PORT": "0",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    }


def start_hub(f: Fleet, env: Mapping[str, str], ports: Ports, defs: Path, *, webhook: bool = True) -> None:
    """The mock Hub with the agents of ``defs``; with ``webhook``, signing a webhook to ingest for each notification."""
    argv = [sys.executable, "-m", "local_emulator.hub", "--port", str(ports.hub), "--agents", str(defs)]
    if webhook:
        argv += ["--webhook-url", f"{ports.url(ports.ingest)}/"]
    f.start("hub", argv, env)


def start_fake_llm(f: Fleet, env: Mapping[str, str], ports: Ports, *, script: Path | None = None) -> None:
    """The fake LLM; ``script`` is a ``--script`` file (its default answers every request)."""
    argv = [sys.executable, "-m", "local_emulator.fake_llm", "--port", str(ports.llm)]
    f.start("fake-llm", argv + (["--script", str(script)] if script is not None else []), env)


def start_target(f: Fleet, env: Mapping[str, str], name: str, *, source: str, port: int) -> None:
    """The functions-framework CloudEvent target ``name`` of ``source`` on ``port``."""
    argv = [str(Path(sys.executable).parent / "functions-framework"), "--source", source, "--target", name]
    f.start(name, [*argv, "--signature-type", "cloudevent", "--port", str(port)], env)


async def start_functions(f: Fleet, env: Mapping[str, str], ports: Ports, defs: Path, *, runners: int) -> None:
    """Start every process of a run; return once each HTTP part answers.

    The mock Hub (its webhook to ingest), the fake LLM, the poller's functions-framework
    target, ingest's server as ``python -m functions ingest`` runs it (``server_argv``),
    ``runners`` runner processes and the metrics function.
    """
    start_hub(f, env, ports, defs)
    start_fake_llm(f, env, ports)
    start_target(f, env, "poller", source="functions/poller/main.py", port=ports.poller)
    f.start("ingest", server_argv("ingest", port=ports.ingest, host="127.0.0.1"), env)  # as the image serves it
    for i in range(runners):
        f.start(f"runner-{i}", [sys.executable, "-m", "functions.runner"], env)
    f.start("metrics", [sys.executable, "-m", "functions.metrics"], env)
    await wait_http(f"{ports.url(ports.hub)}/api/v1/health")
    for port in (ports.llm, ports.poller, ports.ingest):
        await wait_http(f"{ports.url(port)}/healthz")


async def run(*, mentions: int = 300, agents: int = 10, runners: int = 2, timeout_s: float = 240) -> dict[str, Any]:
    with redis_for_bench() as redis_url, tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        work = Path(tmp)
        names = write_agents(work / "defs", agents)
        ports = Ports()
        env = function_env(redis_url, work / "defs", ports, kind="e2e")
        # Tuning knobs pass through, so their effect can be measured.
        env.update({k: os.environ[k] for k in TUNABLES if k in os.environ})
        logs = Path(os.environ.get("BENCH_LOGS", work))
        logs.mkdir(parents=True, exist_ok=True)
        with fleet(logs) as f:
            await start_functions(f, env, ports, work / "defs", runners=runners)
            hub_url, poller_url = ports.url(ports.hub), ports.url(ports.poller)
            figures = await measure(hub_url, poller_url, names, mentions=mentions, timeout_s=timeout_s, fleet=f)
            parts = await floor_parts(env, hub_url=hub_url, llm_url=ports.url(ports.llm), agent=names[0])
            return {**figures, **cost_per_reply(figures, parts)}


OURS = ("poller", "ingest", "metrics")
"""Our processes besides the runners (``runner-<i>``); the mock Hub and the fake LLM are not ours."""


async def floor_parts(env: Mapping[str, str], *, hub_url: str, llm_url: str, agent: str) -> dict[str, float]:
    """The floor's parts (``bench.floor``), timed in a process of their own against this run's fakes."""
    async with httpx.AsyncClient(base_url=hub_url) as hub:
        body = {"author": "person-floor", "content": "What is the floor of one reply?"}
        post = (await hub.post("/_mock/posts", json=body)).raise_for_status().json()
    argv = [sys.executable, "-m", "bench.floor", "--hub", hub_url, "--llm", llm_url, "--redis", env["REDIS_URL"]]
    process = await asyncio.create_subprocess_exec(
        *argv, "--agent", agent, "--post", str(post["id"]), cwd=ROOT, env=dict(env), stdout=subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.floor exited {process.returncode}")
    parts: dict[str, float] = orjson.loads(out.splitlines()[-1])
    return parts


def cost_per_reply(figures: Mapping[str, Any], parts: Mapping[str, float]) -> dict[str, Any]:
    """Our processes' CPU per reply beside the floor's: one LLM call, two Hub calls, an activation's Redis share."""
    replies = max(int(figures["replies"]), 1)
    cpu = figures["cpu_s"]
    ours_s = sum(v for k, v in cpu.items() if k in OURS or k.startswith("runner-"))
    activations_per_reply = int(figures["consumption_records"]) / replies
    floor_ms = parts["llm_call_ms"] + parts["hub_read_ms"] + parts["hub_comment_ms"]
    floor_ms += parts["redis_activation_ms"] * activations_per_reply
    ours_ms = ours_s * 1000 / replies
    return {
        "our_cpu_ms_per_reply": round(ours_ms, 3),
        "floor_cpu_ms_per_reply": round(floor_ms, 3),
        "our_over_floor": round(ours_ms / floor_ms, 2) if floor_ms > 0 else None,
        "floor_parts_ms": {k: v for k, v in parts.items() if k != "calls"},
        "our_cpu_ms_per_reply_by_process": {
            k: round(v * 1000 / replies, 3) for k, v in cpu.items() if k in OURS or k.startswith("runner-")
        },
    }


async def measure(
    hub_url: str, poller_url: str, names: list[str], *, mentions: int, timeout_s: float, fleet: Fleet
) -> dict[str, Any]:
    # aiohttp, not httpx: the bench shares the machine with what it measures, so its own
    # HTTP client should cost as little CPU as it can.
    connector = aiohttp.TCPConnector(limit=MENTIONS_AT_ONCE)
    async with aiohttp.ClientSession(hub_url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as hub:
        ticks = asyncio.create_task(ping_source(poller_url, every_s=PING_EVERY_S))
        gate = asyncio.Semaphore(MENTIONS_AT_ONCE)

        async def mention(i: int, text: str) -> str:
            async with gate:
                body = {"author": f"person-{i % 17}", "content": f"@{names[i % len(names)]} {text} {i}?"}
                async with hub.post("/_mock/posts", json=body) as response:
                    response.raise_for_status()
                    return str((await response.json())["id"])

        try:
            # Warm-up: one mention per agent, answered before the clock starts (the runner
            # processes take seconds to import, and each agent's definition is loaded once).
            warm = set(await asyncio.gather(*(mention(i, "warm-up") for i in range(len(names)))))
            warmed = await _wait_for_replies(hub, len(names), timeout_s=timeout_s)
            started = time.monotonic()
            cpu_before = fleet.cpu_s()
            await asyncio.gather(*(mention(i, "question number") for i in range(mentions)))
            posted_s = time.monotonic() - started
            state = await _wait_for_replies(hub, len(names) + mentions, timeout_s=timeout_s)
            cpu_after = fleet.cpu_s()
        finally:
            ticks.cancel()
        elapsed_s = time.monotonic() - started
    state["consumption"] = state["consumption"][len(warmed["consumption"]) :]
    figures = _figures(state, set(names), warm, mentions=mentions, posted_s=posted_s, elapsed_s=elapsed_s)
    figures["cpu_s"] = {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 2) for k in cpu_after}
    return figures


async def get_json(hub: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    """``GET path`` of the mock Hub's session, its JSON body (raises on an error status)."""
    async with hub.get(path) as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json(loads=orjson.loads)
        return body


async def _wait_for_replies(hub: aiohttp.ClientSession, replies: int, *, timeout_s: float) -> dict[str, Any]:
    """The Hub's whole state once ``replies`` comments by agents exist (or at the deadline).

    Progress is read from ``/_mock/stats`` (counts): rendering the whole state on every
    look would cost the Hub more CPU the longer the run, on the cores being measured.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        stats = await get_json(hub, "/_mock/stats")
        if stats["agent_comments"] >= replies:
            # Every mention answered: let the metrics function report the last activations
            # (one record per activation, not per reply) and a late duplicate show itself.
            settled = stats["consumption"]
            while time.monotonic() < deadline:
                await asyncio.sleep(2)
                stats = await get_json(hub, "/_mock/stats")
                if stats["consumption"] == settled:
                    break
                settled = stats["consumption"]
            return await get_json(hub, "/_mock/state")
        if time.monotonic() > deadline:
            return await get_json(hub, "/_mock/state")
        await asyncio.sleep(0.2)


def _figures(
    state: dict[str, Any], agents: set[str], warm: set[str], *, mentions: int, posted_s: float, elapsed_s: float
) -> dict[str, Any]:
    posts = {p["id"]: p for p in state["posts"] if p["id"] not in warm}
    replies = [c for c in state["comments"] if (c.get("author") or {}).get("name") in agents and c["post_id"] in posts]
    per_post = Counter(c["post_id"] for c in replies)
    stamps = [datetime.fromisoformat(str(p["created_at"]).replace("Z", "+00:00")) for p in posts.values()]
    first_reply: dict[str, datetime] = {}
    for c in replies:
        at = datetime.fromisoformat(str(c["created_at"]).replace("Z", "+00:00"))
        first_reply[c["post_id"]] = min(at, first_reply.get(c["post_id"], at))
    latencies = [
        (at - datetime.fromisoformat(str(posts[pid]["created_at"]).replace("Z", "+00:00"))).total_seconds() * 1000
        for pid, at in first_reply.items()
        if pid in posts
    ]
    window_s = (max(first_reply.values()) - min(stamps)).total_seconds() if first_reply and stamps else elapsed_s
    consumption = state["consumption"]
    tokens = sum(int(c.get(k, 0)) for c in consumption for k in ("tokens_input", "tokens_output"))
    tokens += sum(int(c.get(k, 0)) for c in consumption for k in ("cache_read_tokens", "cache_write_tokens"))
    return {
        "mentions": mentions,
        "replies": len(per_post),
        "duplicate_replies": sum(n - 1 for n in per_post.values()),
        "activations_per_s": round(len(per_post) / window_s, 1) if window_s > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "tokens": tokens,
        "cost_usd": round(sum(float(c.get("cost_usd", 0)) for c in consumption), 6),
        "consumption_records": len(consumption),
        "mentions_posted_s": round(posted_s, 2),
        "elapsed_s": round(elapsed_s, 2),
    }

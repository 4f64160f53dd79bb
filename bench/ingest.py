"""Ingest during a tick: N signed webhooks, each timed from its POST to its activation on the stream.

Real processes on loopback: a private redis-server, the mock Hub, the poller's
functions-framework target and ingest's server (``server_argv``, as the image runs it), each
behind the emulator's queue-proxy with the ``containerConcurrency`` of its Knative
Service (``knative/*.yaml``: 1 and 32). A
PingSource-style tick holds the poller's one slot for the whole run; the mock Hub runs
without long-poll and ``POLL_INTERVAL`` exceeds the tick's window, so the tick asks the
Hub once, before any notification exists, then sleeps out its window: every activation
on the stream is ingest's. Then each of N agents gets a notification on the Hub, which
the bench pushes to ingest exactly as the mock Hub's webhook does (a binary CloudEvent
signed with ``X-Hub-Signature-256``), paced at ``--rate`` a second. Latency: the POST
leaving → its ``activation.requested`` entry read back (``XREAD BLOCK`` on the three
activation streams). One agent per webhook, so no notification joins another's
activation. An unsigned and a badly signed push are sent first: both must be refused
(401) and queue nothing.

Before the clock starts each agent gets a ``follow`` pushed the same way (ingest marks
it read and queues nothing), so ingest has seen every agent once, as a running one has:
the agent's definition is cached (``cache_ttl``) and its Hub id known. ``--cold`` skips
that, and each webhook also loads a definition and lists the Hub's agents.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench._harness import ROOT, fresh_prefix, percentile, redis_for_bench
from bench.e2e import API_KEY, Fleet, fleet, free_port, wait_http, write_agents
from functions.__main__ import server_argv
from local_emulator.queue_proxy import QueueProxy, service_concurrency
from shared.events import Priority, notification_created, ping, to_http
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Redis, StreamKeys, connect

TICK_WINDOW_S = 55  # as knative/pingsource.yaml asks
POLLER = "functions/poller/main.py"


async def run(
    *, webhooks: int = 200, rate: float = 100.0, cold: bool = False, tick_window_s: int = TICK_WINDOW_S
) -> dict[str, Any]:
    """Measure; ``tick_window_s`` must outlast the pushes (the poller stops only once its tick ends)."""
    limits = service_concurrency(ROOT / "knative")
    secret = secrets.token_urlsafe(24)
    with redis_for_bench() as redis_url, tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        write_agents(work / "defs", webhooks)
        prefix = fresh_prefix("ingest")
        hub_port = free_port()
        ports = {name: free_port() for name in ("poller", "ingest")}
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
        env = {
            **base,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": prefix,
            "AGENTS_DIR": str(work / "defs"),
            "HUB_URL": f"http://127.0.0.1:{hub_port}",
            "HUB_API_KEY": API_KEY,
            "HUB_WEBHOOK_SECRET": secret,
            "POLL_INTERVAL": "600",  # past the window: the tick asks once, then sleeps it out
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
        }
        logs = Path(os.environ.get("BENCH_LOGS", work))
        logs.mkdir(parents=True, exist_ok=True)
        with fleet(logs) as f:
            hub_argv = [sys.executable, "-m", "local_emulator.hub", "--port", str(hub_port), "--no-long-poll"]
            f.start("hub", [*hub_argv, "--agents", str(work / "defs"), "--log-level", "warning"], env)
            bin_dir = Path(sys.executable).parent
            argv = [str(bin_dir / "functions-framework"), "--source", POLLER, "--target", "poller"]
            f.start("poller", [*argv, "--signature-type", "cloudevent", "--port", str(ports["poller"])], env)
            f.start("ingest", server_argv("ingest", port=ports["ingest"], host="127.0.0.1"), env)  # as the image does
            await wait_http(f"http://127.0.0.1:{hub_port}/api/v1/health")
            for port in ports.values():
                await wait_http(f"http://127.0.0.1:{port}/healthz")
            redis = connect(redis_url)
            try:
                async with (
                    QueueProxy(
                        name="poller", upstream=f"http://127.0.0.1:{ports['poller']}", **_limit(limits, "poller")
                    ) as poller,
                    QueueProxy(
                        name="ingest", upstream=f"http://127.0.0.1:{ports['ingest']}", **_limit(limits, "ingest")
                    ) as ingest,
                ):
                    figures = await measure(
                        hub=env["HUB_URL"], poller=poller, ingest=ingest, redis=redis, keys=StreamKeys(prefix),
                        secret=secret, webhooks=webhooks, rate=rate, cold=cold, window_s=tick_window_s, fleet=f,
                    )  # fmt: skip
            finally:
                await redis.aclose()
    return {**figures, "ingest_concurrency": limits["ingest"], "poller_concurrency": limits["poller"]}


def _limit(limits: dict[str, int], name: str) -> dict[str, int]:
    return {"concurrency": limits.get(name, 0)}


async def measure(
    *,
    hub: str,
    poller: QueueProxy,
    ingest: QueueProxy,
    redis: Redis,
    keys: StreamKeys,
    secret: str,
    webhooks: int,
    rate: float,
    cold: bool,
    window_s: int,
    fleet: Fleet,
) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        agents = {a["name"]: a["id"] for a in (await _json(http.get(hub + "/_mock/agents")))["agents"]}
        headers, body = to_http(ping(at=datetime.now(UTC), window_s=window_s), binary=True)
        tick = asyncio.create_task(_status(http.post(poller.url, data=body, headers=headers)))
        while poller.counts.in_flight < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)  # the tick has asked the Hub (nothing yet) and sleeps out its window
        refused = await _refused(http, ingest.url, next(iter(agents.values())), secret)
        if await _queued(redis, keys):
            raise RuntimeError("a refused push queued an activation")
        chosen = sorted(agents)[:webhooks]
        if not cold:
            await _warm_up(http, hub, ingest.url, chosen, secret)
        notes = []
        for i, name in enumerate(chosen):
            mention = {"agent": name, "type": "mention", "from": f"person-{i % 7}", "content": f"@{name} question {i}?"}
            notes.append(await _json(http.post(hub + "/_mock/notifications", json=mention)))
        arrivals: dict[str, float] = {}
        reader = asyncio.create_task(_read_activations(redis, keys, arrivals, expect=len(notes)))
        sent: dict[str, float] = {}
        statuses: list[int] = []
        cpu_before = fleet.cpu_s()
        started = time.perf_counter()

        async def push(i: int, note: dict[str, Any]) -> None:
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            headers, body = _delivery(note, secret)
            sent[note["agent_id"]] = time.perf_counter()
            statuses.append(await _status(http.post(ingest.url, data=body, headers=headers)))

        await asyncio.gather(*(push(i, note) for i, note in enumerate(notes)))
        await asyncio.wait_for(reader, timeout=60)
        elapsed_s = time.perf_counter() - started
        during_tick = not tick.done() and poller.counts.in_flight == 1
        cpu_after = fleet.cpu_s()
        tick.cancel()
    latencies = sorted((arrivals[agent] - at) * 1000 for agent, at in sent.items())
    return {
        "webhooks": len(notes),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(latencies[-1], 2),
        "during_tick": during_tick,
        "rate_per_s": rate,
        "warm": not cold,
        "elapsed_s": round(elapsed_s, 2),
        "published": len(arrivals),
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "unsigned_status": refused["unsigned"],
        "forged_status": refused["forged"],
        "ingest_max_in_flight": ingest.counts.max_in_flight,
        "ingest_max_waiting": ingest.counts.max_waiting,
        "cpu_ms_per_webhook": {k: round(v * 1e3 / len(notes), 2) for k, v in _spent(cpu_before, cpu_after).items()},
    }  # fmt: skip


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _delivery(note: dict[str, Any], secret: str) -> tuple[dict[str, str], bytes]:
    """The request the mock Hub's webhook makes for ``note`` (``local_emulator.hub._webhook``)."""
    event = notification_created(at=datetime.now(UTC), agent_id=note["agent_id"], notification=note)
    headers, body = to_http(event, binary=True)
    headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers, body


async def _warm_up(http: aiohttp.ClientSession, hub: str, url: str, names: list[str], secret: str) -> None:
    """Push each agent a ``follow`` (marked read, never queued), eight at a time, untimed."""
    gate = asyncio.Semaphore(8)

    async def one(name: str) -> None:
        async with gate:
            note = await _json(http.post(hub + "/_mock/notifications", json={"agent": name, "type": "follow"}))
            headers, body = _delivery(note, secret)
            status = await _status(http.post(url, data=body, headers=headers))
            if status != 200:
                raise RuntimeError(f"warm-up push for {name}: status {status}")

    await asyncio.gather(*(one(name) for name in names))


async def _refused(http: aiohttp.ClientSession, url: str, agent_id: str, secret: str) -> dict[str, int]:
    note = {"id": "ntf_refused", "type": "mention", "agent_id": agent_id, "content": "forged"}
    headers, body = _delivery(note, secret)
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
    forged = {**headers, SIGNATURE_HEADER: signature("not-" + secret, body)}
    return {
        "unsigned": await _status(http.post(url, data=body, headers=unsigned)),
        "forged": await _status(http.post(url, data=body, headers=forged)),
    }


async def _read_activations(redis: Redis, keys: StreamKeys, arrivals: dict[str, float], *, expect: int) -> None:
    """Stamp each activation entry as it is read: ``arrivals[subject (agent id)] = perf_counter()``."""
    cursors = {keys.activations(p): "$" for p in Priority}
    while len(arrivals) < expect:
        answer: Any = await redis.xread(cursors, block=5000, count=500)  # type: ignore[arg-type]
        now = time.perf_counter()
        for stream, entries in answer or []:
            for entry_id, fields in entries:
                cursors[stream.decode() if isinstance(stream, bytes) else stream] = entry_id
                subject = fields.get(b"subject", fields.get("subject", b""))
                arrivals.setdefault(subject.decode() if isinstance(subject, bytes) else str(subject), now)


async def _queued(redis: Redis, keys: StreamKeys) -> int:
    return sum([await redis.xlen(keys.activations(p)) for p in Priority])


async def _status(request: Any) -> int:
    async with request as response:
        await response.read()
        return int(response.status)


async def _json(request: Any) -> Any:
    async with request as response:
        response.raise_for_status()
        return await response.json()

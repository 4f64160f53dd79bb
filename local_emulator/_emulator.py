"""The whole system on one machine: Redis, the mock Hub, the fake LLM, the functions, PingSource, KEDA.

::

    redis (REDIS_URL | private redis-server | embedded)
    mock Hub :8000 ──signed webhook──► ingest :8085 ─┐   PingSource ticks ──► poller :8081
                                                     │ activation.requested      │
                                                     ▼◄──────────────────────────┘
    KEDA emulation ─scales each pool─► runner pumps (python -m functions.runner) ──► Hub replies
                                    │ activation.completed
                                    ▼
                         metrics pump ──► Hub consumption;  runner :8082, metrics :8083 (HTTP)

    definitions :8086 (POST /webhook, signed with DEFINITIONS_WEBHOOK_SECRET, ``botburrow-local``
    unless set) ◄── sync ticks every SYNC_EVERY_S, when SYNC_SOURCES is set

Every service is a real process started as the platform starts it; the emulator only
supervises. Each function's address is its queue-proxy (``queue_proxy``), which lets
through at most the ``containerConcurrency`` of its Knative Service (``knative/*.yaml``)
at once, as Knative does; the function itself listens on a private port. The
credentials pushes need (``HUB_WEBHOOK_SECRET``, ``INGEST_TOKEN``, ``EVENTS_TOKEN``, and
``OPERATOR_TOKEN`` for the metrics function's operator routes) come
from the environment or are made up per run, given to the functions and the mock Hub
(which signs its webhook deliveries) and written to ``<logs>/credentials.env``.

The runners come in pools (``_pools``: ``runner-notification`` takes the inbox streams,
``runner-exploration`` discovery), each scaled by its own ScaledObject from ``keda/``.
One runner per pool waits ready with its imports done (``local_emulator._pod``), as a pod
whose image is on the node would, so scaling from zero costs a KEDA polling interval, not
two seconds of imports. Stopping (Ctrl-C, SIGTERM) stops the ticks and the autoscaler, drains
the runners with SIGTERM within their grace period, then stops the rest, each by process
group, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog

from functions.__main__ import ASGI_TARGETS, server_argv
from shared.errors import InvalidEvent
from shared.events import ActivationCompleted, data_of, from_fields
from shared.streams import Redis, StreamKeys, connect, ensure_groups, transport_groups
from shared.webview import Sessions

from ._children import Child, check_ports
from ._pools import Pool, PoolSpec
from ._redis import RedisChoice
from .pingsource import ping_source
from .queue_proxy import QueueProxy, private_port, service_concurrency

log = structlog.get_logger("botburrow.emulator")

ROOT = Path(__file__).resolve().parents[1]
DEMO_AGENTS = Path(__file__).resolve().parent / "demo_agents"
LOCAL_KEY = "botburrow-local"
FUNCTIONS = ("poller", "ingest", "runner", "metrics", "definitions")
SOURCES = {
    "poller": "poller/main.py",
    "ingest": "poller/ingest.py",
    "runner": "runner/main.py",
    "metrics": "metrics/main.py",
    "definitions": "definitions/main.py",
}
"""Each function's functions-framework source, under ``functions/``."""
CREDENTIALS = ("HUB_WEBHOOK_SECRET", "INGEST_TOKEN", "EVENTS_TOKEN", "OPERATOR_TOKEN")
"""What pushes carry: taken from the environment, or made up per run."""
SYNC_EVERY_S = 300.0
"""The definitions-sync PingSource's schedule (``knative/pingsource.yaml``: every 5 minutes)."""
SERVICE_GRACE_S = 5.0
"""How long a service (not a runner) gets to stop; the poller may be inside a tick's long-poll."""


@dataclass(frozen=True, kw_only=True)
class Ports:
    """Where each service listens; the Hub's default matches the default ``HUB_URL``."""

    hub: int = 8000
    poller: int = 8081
    runner: int = 8082
    metrics: int = 8083
    llm: int = 8084
    ingest: int = 8085
    definitions: int = 8086

    @classmethod
    def from_base(cls, base: int, **overrides: int | None) -> Ports:
        """Functions at ``base``+1..3, +5 (ingest) and +6 (definitions), the fake LLM at ``base``+4; the Hub at 8000."""
        ports = {"hub": 8000, "poller": base + 1, "runner": base + 2, "metrics": base + 3, "llm": base + 4}
        ports["ingest"] = base + 5
        ports["definitions"] = base + 6
        ports.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**ports)


@dataclass(frozen=True, kw_only=True)
class Options:
    """What one run of the emulator does."""

    agents_dir: Path = DEMO_AGENTS
    ports: Ports = field(default_factory=Ports)
    logs_dir: Path
    pools: tuple[PoolSpec, ...]
    scaler_source: str = "built-in defaults"
    poll_interval_s: float = 30.0
    grace_s: float = 30.0
    status: Literal["tty", "plain", "off"] = "plain"
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    concurrency: Mapping[str, int] = field(default_factory=lambda: service_concurrency(ROOT / "knative"))
    """Each Service's ``containerConcurrency`` (``queue_proxy.service_concurrency``); absent: unlimited."""


@dataclass
class Counters:
    """What the results stream said so far (read by the status view)."""

    done: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    last_id: str = "0-0"


class Emulator:
    """Supervises one run; ``run`` returns when ``stop`` is set and everything has stopped."""

    def __init__(self, options: Options, redis: RedisChoice) -> None:
        self.options = options
        self.redis_choice = redis
        self.prefix = options.env.get("STREAM_PREFIX", "botburrow")
        self.keys = StreamKeys(self.prefix)
        self.services: dict[str, Child] = {}
        self.proxies: dict[str, QueueProxy] = {}
        self.pools = {
            spec.name: Pool(spec, make_child=self._pool_child, grace_s=options.grace_s) for spec in options.pools
        }
        self.counters = Counters()
        self.fake_llm = not _llm_keys(options.env)
        self.local_hub = not options.env.get("HUB_URL") or _is_local_hub(options.env["HUB_URL"], options.ports.hub)
        self._started = time.monotonic()
        self.env = self._child_env()
        self.ui_url = ""

    # -- environment ------------------------------------------------------------

    def _child_env(self) -> dict[str, str]:
        """The settings every function reads (``shared.settings``), pointing at this run's parts."""
        o, env = self.options, dict(self.options.env)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
                "REDIS_URL": self.redis_choice.url,
                "STREAM_PREFIX": self.prefix,
                "POLL_INTERVAL": repr(o.poll_interval_s),
                "METRICS_PORT": "0",  # the pumps' own metrics ports would collide; the HTTP targets serve /metrics
            }
        )
        if not env.get("AGENTS_DIR") and not env.get("R2_BUCKET"):
            env["AGENTS_DIR"] = str(o.agents_dir)
        env.setdefault("MCP_SERVERS_DIR", str(ROOT / "mcp-servers"))  # make mcp-servers installs them there
        env.setdefault("CLI_DIR", str(ROOT / "clis"))  # make clis installs them there
        env.setdefault("DEFINITIONS_WEBHOOK_SECRET", LOCAL_KEY)  # so the webhook can be tried with curl
        if self.local_hub:
            env["HUB_URL"] = f"http://127.0.0.1:{o.ports.hub}"
            env.setdefault("HUB_API_KEY", LOCAL_KEY)
        for name in CREDENTIALS:
            env[name] = env.get(name) or secrets.token_urlsafe(24)
        if self.fake_llm:
            env["ANTHROPIC_API_KEY"] = "sk-emulator-fake"
            env["ANTHROPIC_BASE_URL"] = f"http://127.0.0.1:{o.ports.llm}"
            env["OPENAI_API_KEY"] = "sk-emulator-fake"
            env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{o.ports.llm}/v1"
        return env

    def _child(self, name: str, argv: list[str]) -> Child:
        return Child(name=name, argv=argv, env=self.env, cwd=ROOT, logs=self.options.logs_dir)

    def _pool_child(self, name: str, argv: list[str], extra: Mapping[str, str]) -> Child:
        return Child(name=name, argv=argv, env={**self.env, **extra}, cwd=ROOT, logs=self.options.logs_dir)

    # -- the run ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, keep it going until ``stop``, then stop it all."""
        o = self.options
        ports = {f"{name}": getattr(o.ports, name) for name in FUNCTIONS}
        if self.local_hub:
            ports["hub"] = o.ports.hub
        if self.fake_llm:
            ports["fake-llm"] = o.ports.llm
        check_ports(ports)
        redis = connect(self.redis_choice.url)
        tasks: list[asyncio.Task[None]] = []
        proxies = contextlib.AsyncExitStack()
        try:
            groups = transport_groups(self.keys, group="runners", results_group="metrics")
            await ensure_groups(redis, groups)
            self._write_credentials()
            await self._start_proxies(proxies)
            await self._start_services()
            for pool in self.pools.values():
                await pool.start()
            await self._wait_ready()
            # A one-time link that opens the web view signed in (shared.webview); it works once.
            token = await Sessions(redis, prefix=self.prefix).mint_login()
            self.ui_url = f"http://127.0.0.1:{o.ports.metrics}/ui/login?token={token}"
            log.info("emulator.ready", **self.addresses())
            tasks = [
                asyncio.create_task(ping_source(self.addresses()["poller"], every_s=o.poll_interval_s), name="ping"),
                asyncio.create_task(self._autoscale(redis, stop), name="keda"),
                asyncio.create_task(self._read_results(redis, stop), name="results"),
            ]
            if self.env.get("SYNC_SOURCES", "").strip():
                sync = ping_source(f"http://127.0.0.1:{o.ports.definitions}/", every_s=SYNC_EVERY_S)
                tasks.append(asyncio.create_task(sync, name="definitions-sync"))
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            # A cancel can be lost inside redis-py's blocking read (Python 3.11): the loops also
            # watch ``stop``, and the shutdown goes on after a bounded wait whatever they do.
            if tasks:
                await asyncio.wait(tasks, timeout=3.0)
            await self.shutdown()
            await proxies.aclose()
            await redis.aclose()

    async def _start_proxies(self, stack: contextlib.AsyncExitStack) -> None:
        """A queue-proxy on each function's address, in front of the private port its process gets."""
        for name in FUNCTIONS:
            proxy = QueueProxy(
                name=name,
                upstream=f"http://127.0.0.1:{private_port()}",
                concurrency=self.options.concurrency.get(name, 0),
                port=getattr(self.options.ports, name),
            )
            self.proxies[name] = await stack.enter_async_context(proxy)

    def _write_credentials(self) -> None:
        """``<logs>/credentials.env`` (owner only): what a curl to ingest, runner or metrics needs."""
        self.options.logs_dir.mkdir(parents=True, exist_ok=True)
        path = self.options.logs_dir / "credentials.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
        with os.fdopen(fd, "w") as out:
            out.writelines(f"export {name}={self.env[name]}\n" for name in CREDENTIALS)

    def addresses(self) -> dict[str, str]:
        o = self.options.ports
        out = {
            "hub": self.env["HUB_URL"],
            "poller": f"http://127.0.0.1:{o.poller}/",
            "ingest": f"http://127.0.0.1:{o.ingest}/",
            "runner": f"http://127.0.0.1:{o.runner}/",
            "metrics": f"http://127.0.0.1:{o.metrics}/",
            "definitions": f"http://127.0.0.1:{o.definitions}/webhook",
            "redis": f"{_without_password(self.redis_choice.url)} ({self.redis_choice.kind})",
            "llm": f"fake, http://127.0.0.1:{o.llm}" if self.fake_llm else "real (API key set)",
            "logs": str(self.options.logs_dir),
            "credentials": str(self.options.logs_dir / "credentials.env"),
        }
        if self.ui_url:
            out["ui"] = self.ui_url
        return out

    async def _start_services(self) -> None:
        o, py = self.options, sys.executable
        bin_dir = Path(sys.executable).parent
        if self.local_hub:
            argv = [py, "-m", "local_emulator.hub", "--port", str(o.ports.hub), "--agents", str(self._agents_dir())]
            argv += ["--webhook-url", f"http://127.0.0.1:{o.ports.ingest}/"]  # signs with HUB_WEBHOOK_SECRET
            argv += ["--api-key", self.env["HUB_API_KEY"]]
            self.services["hub"] = self._child("hub", argv)
        if self.fake_llm:
            argv = [py, "-m", "local_emulator.fake_llm", "--port", str(o.ports.llm), "--log-level", "warning"]
            argv += ["--voices"]
            self.services["fake-llm"] = self._child("fake-llm", argv)
        for name in FUNCTIONS:
            port = self.proxies[name].upstream.rsplit(":", 1)[1]  # behind its queue-proxy
            if name in ASGI_TARGETS:  # served as in the image
                argv = server_argv(name, port=port, host="127.0.0.1")
            else:
                argv = [str(bin_dir / "functions-framework"), "--source", str(ROOT / "functions" / SOURCES[name])]
                argv += ["--target", name, "--signature-type", "cloudevent", "--port", port]
            self.services[name] = self._child(name, argv)
        self.services["metrics-pump"] = self._child("metrics-pump", [py, "-m", "functions.metrics"])
        for child in self.services.values():
            await child.start()

    def _agents_dir(self) -> Path:
        return Path(self.env.get("AGENTS_DIR") or self.options.agents_dir)

    async def _wait_ready(self, timeout_s: float = 60.0) -> None:
        o = self.options.ports
        urls = {name: f"http://127.0.0.1:{getattr(o, name)}/healthz" for name in FUNCTIONS}
        if self.local_hub:
            urls["hub"] = f"http://127.0.0.1:{o.hub}/api/v1/health"
        if self.fake_llm:
            urls["fake-llm"] = f"http://127.0.0.1:{o.llm}/healthz"
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            for name, url in urls.items():
                while True:
                    child = self.services[name]
                    if not child.running:
                        raise RuntimeError(f"{name} exited at start; see {child.log_path}")
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(url) as response:
                            if response.status < 500:
                                break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not answer {url} within {timeout_s:.0f}s; see {child.log_path}")
                    await asyncio.sleep(0.1)

    async def shutdown(self) -> None:
        """Drain the runners (SIGTERM, their grace period), then stop the services; nothing is left."""
        grace = self.options.grace_s
        await asyncio.gather(*(pool.stop() for pool in self.pools.values()), return_exceptions=True)
        # The functions first (the metrics pump flushes its outbox to the Hub), the Hub last.
        order = ["poller", "ingest", "runner", "metrics", "definitions", "metrics-pump", "fake-llm", "hub"]
        for name in order:
            if name in self.services:
                await self.services[name].stop(grace_s=min(grace, SERVICE_GRACE_S))
        log.info("emulator.stopped")

    # -- KEDA ---------------------------------------------------------------------

    async def _autoscale(self, redis: Redis, stop: asyncio.Event) -> None:
        """Every ``pollingInterval``: each pool reads its own streams as KEDA does and is sized on them."""
        every_s = min((p.spec.scaler.polling_interval_s for p in self.pools.values()), default=1.0)
        while not stop.is_set():
            for pool in self.pools.values():
                await pool.step(redis)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    @property
    def runners(self) -> list[Child]:
        """Every pool's running runners."""
        return [r for pool in self.pools.values() for r in pool.runners]

    @property
    def draining(self) -> list[Child]:
        """Every pool's runners draining after a SIGTERM."""
        return [c for pool in self.pools.values() for c, _ in pool.draining]

    # -- results --------------------------------------------------------------------

    async def _read_results(self, redis: Redis, stop: asyncio.Event) -> None:
        """Count completed activations, tokens and cost for the status view (a plain XREAD, no group)."""
        while not stop.is_set():
            try:
                answer = await redis.xread({self.keys.results: self.counters.last_id}, count=500, block=1000)
            except Exception as exc:
                log.debug("emulator.results_read_failed", error=str(exc))
                await asyncio.sleep(1)
                continue
            batches: Any = answer or []  # RESP2: [[stream, [[id, {field: value}], ...]], ...]
            for _stream, entries in batches:
                for entry_id, fields in entries:
                    self.counters.last_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    _count(self.counters, fields)

    def uptime_s(self) -> float:
        return time.monotonic() - self._started


def _count(counters: Counters, fields: Mapping[Any, Any]) -> None:
    try:
        completed = data_of(from_fields(fields))
    except InvalidEvent:  # a malformed entry is the DLQ's business, not the status view's
        return
    if not isinstance(completed, ActivationCompleted):
        return
    if completed.outcome == "failed":
        counters.failed += 1
    else:
        counters.done += 1
    counters.tokens += completed.usage.input_tokens + completed.usage.output_tokens
    counters.cost_usd += completed.usage.cost_usd


def _llm_keys(env: Mapping[str, str]) -> bool:
    return bool(env.get("ANTHROPIC_API_KEY") or env.get("OPENAI_API_KEY"))


def _is_local_hub(url: str, port: int) -> bool:
    """Whether ``HUB_URL`` names the mock Hub this emulator would start (so it starts it)."""
    trimmed = url.rstrip("/").removesuffix("/api/v1")
    return trimmed in (f"http://127.0.0.1:{port}", f"http://localhost:{port}")


def _without_password(url: str) -> str:
    """``url`` fit for a log line: a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))

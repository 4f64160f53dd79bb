"""The whole system on one machine: Redis, the mock Hub, the fake LLM, the functions, PingSource, KEDA.

::

    redis (REDIS_URL | private redis-server | embedded)
    mock Hub :8000 ──signed webhook──► ingest :8085 ─┐   PingSource ticks ──► poller :8081
                                                     │ activation.requested      │
                                                     ▼◄──────────────────────────┘
    KEDA emulation ─scales─► runner pumps (python -m functions.runner) ──► Hub replies
                                    │ activation.completed
                                    ▼
                         metrics pump ──► Hub consumption;  runner :8082, metrics :8083 (HTTP)

Every service is a real process started as the platform starts it; the emulator only
supervises. Each function's address is its queue-proxy (``queue_proxy``), which lets
through at most the ``containerConcurrency`` of its Knative Service (``knative/*.yaml``)
at once, as Knative does; the function itself listens on a private port. The
credentials pushes need (``HUB_WEBHOOK_SECRET``, ``INGEST_TOKEN``, ``EVENTS_TOKEN``) come
from the environment or are made up per run, given to the functions and the mock Hub
(which signs its webhook deliveries) and written to ``<logs>/credentials.env``.

One runner waits ready with its imports done (``local_emulator._pod``), as a pod whose
image is on the node would, so scaling from zero costs a KEDA polling interval, not two
seconds of imports. Stopping (Ctrl-C, SIGTERM) stops the ticks and the autoscaler, drains
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
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog

from shared.errors import InvalidEvent
from shared.events import ActivationCompleted, data_of, from_fields
from shared.streams import Redis, StreamKeys, connect, ensure_groups, transport_groups

from ._children import Child, check_ports
from ._redis import RedisChoice
from .keda import Autoscaler, Decision, Figures, ScalerConfig, read_figures
from .pingsource import ping_source
from .queue_proxy import QueueProxy, private_port, service_concurrency

log = structlog.get_logger("botburrow.emulator")

ROOT = Path(__file__).resolve().parents[1]
DEMO_AGENTS = Path(__file__).resolve().parent / "demo_agents"
LOCAL_KEY = "botburrow-local"
FUNCTIONS = ("poller", "ingest", "runner", "metrics")
SOURCES = {
    "poller": "poller/main.py",
    "ingest": "poller/ingest.py",
    "runner": "runner/main.py",
    "metrics": "metrics/main.py",
}
"""Each function's functions-framework source, under ``functions/``."""
CREDENTIALS = ("HUB_WEBHOOK_SECRET", "INGEST_TOKEN", "EVENTS_TOKEN")
"""What pushes carry: taken from the environment, or made up per run."""
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

    @classmethod
    def from_base(cls, base: int, **overrides: int | None) -> Ports:
        """Functions at ``base``+1..3 and +5 (ingest), the fake LLM at ``base``+4; the Hub at 8000 unless overridden."""
        ports = {"hub": 8000, "poller": base + 1, "runner": base + 2, "metrics": base + 3, "llm": base + 4}
        ports["ingest"] = base + 5
        ports.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**ports)


@dataclass(frozen=True, kw_only=True)
class Options:
    """What one run of the emulator does."""

    agents_dir: Path = DEMO_AGENTS
    ports: Ports = field(default_factory=Ports)
    logs_dir: Path
    scaler: ScalerConfig
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
        self.autoscaler = Autoscaler(options.scaler)
        self.services: dict[str, Child] = {}
        self.proxies: dict[str, QueueProxy] = {}
        self.runners: list[Child] = []
        self.draining: list[tuple[Child, asyncio.Task[int | None]]] = []
        self.counters = Counters()
        self.last_decision: Decision | None = None
        self.last_figures: Figures | None = None  # what KEDA read last; the status view shows it
        self.fake_llm = not _llm_keys(options.env)
        self.local_hub = not options.env.get("HUB_URL") or _is_local_hub(options.env["HUB_URL"], options.ports.hub)
        self.standby: Child | None = None  # the next runner, imports done (``local_emulator._pod``)
        self._runner_seq = 0
        self._started = time.monotonic()
        self.env = self._child_env()

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
            await self._new_standby()
            await self._wait_ready()
            log.info("emulator.ready", **self.addresses())
            tasks = [
                asyncio.create_task(ping_source(self.addresses()["poller"], every_s=o.poll_interval_s), name="ping"),
                asyncio.create_task(self._autoscale(redis, stop), name="keda"),
                asyncio.create_task(self._read_results(redis, stop), name="results"),
            ]
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
            "redis": f"{_without_password(self.redis_choice.url)} ({self.redis_choice.kind})",
            "llm": f"fake, http://127.0.0.1:{o.llm}" if self.fake_llm else "real (API key set)",
            "logs": str(self.options.logs_dir),
            "credentials": str(self.options.logs_dir / "credentials.env"),
        }
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
            argv = [str(bin_dir / "functions-framework"), "--source", str(ROOT / "functions" / SOURCES[name])]
            port = self.proxies[name].upstream.rsplit(":", 1)[1]  # behind its queue-proxy
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
        if self.standby is not None:
            await self.standby.stop(grace_s=1.0)
            self.standby = None
        stopping: list[Awaitable[int | None]] = [r.stop(grace_s=grace) for r in self.runners]
        stopping += [task for _, task in self.draining]
        await asyncio.gather(*stopping, return_exceptions=True)
        self.runners.clear()
        # The functions first (the metrics pump flushes its outbox to the Hub), the Hub last.
        order = ["poller", "ingest", "runner", "metrics", "metrics-pump", "fake-llm", "hub"]
        for name in order:
            if name in self.services:
                await self.services[name].stop(grace_s=min(grace, SERVICE_GRACE_S))
        log.info("emulator.stopped")

    # -- KEDA ---------------------------------------------------------------------

    async def _autoscale(self, redis: Redis, stop: asyncio.Event) -> None:
        """Every ``pollingInterval``: read lag and pending as KEDA does, decide, start or SIGTERM runners."""
        while not stop.is_set():
            self._reap()
            if self.standby is not None and not self.standby.running:
                log.warning("emulator.standby_exited", child=self.standby.name, log=str(self.standby.log_path))
                await self._new_standby()
            try:
                figures = await read_figures(redis, self.options.scaler)
            except Exception as exc:  # Redis hiccup: KEDA keeps the current count too
                log.warning("emulator.keda_read_failed", error=str(exc))
            else:
                self.last_figures = figures
                decision = self.autoscaler.decide(figures, current=len(self.runners), now=time.monotonic())
                self.last_decision = decision
                try:
                    await self.scale_to(decision.replicas, reason=decision.reason)
                except OSError as exc:  # a child that cannot start, or a standby gone: try again next time
                    log.warning("emulator.scale_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.options.scaler.polling_interval_s)

    async def scale_to(self, replicas: int, *, reason: str = "") -> None:
        """Start runner pumps, or SIGTERM the newest ones (they drain in the background)."""
        current = len(self.runners)
        if replicas == current:
            return
        log.info("emulator.scale", runners=f"{current} -> {replicas}", reason=reason)
        while len(self.runners) < replicas:
            child = self.standby if self.standby is not None and self.standby.running else None
            self.standby = None
            if child is None:
                child = await self._new_runner(standby=False)
            else:
                await child.go()
            self.runners.append(child)
        if self.standby is None:
            await self._new_standby()
        while len(self.runners) > replicas:
            child = self.runners.pop()
            self.draining.append((child, asyncio.create_task(child.stop(grace_s=self.options.grace_s))))

    async def _new_runner(self, *, standby: bool) -> Child:
        self._runner_seq += 1
        module = "local_emulator._pod" if standby else "functions.runner"
        child = self._child(f"runner-pump-{self._runner_seq}", [sys.executable, "-m", module])
        child.standby = standby
        await child.start()
        return child

    async def _new_standby(self) -> None:
        self.standby = await self._new_runner(standby=True)

    def _reap(self) -> None:
        """Forget drained runners; replace pumps that died on their own (as a Deployment would)."""
        self.draining = [(c, t) for c, t in self.draining if not t.done()]
        for child in [c for c in self.runners if not c.running]:
            log.warning("emulator.runner_exited", child=child.name, code=child.process and child.process.returncode)
            self.runners.remove(child)

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

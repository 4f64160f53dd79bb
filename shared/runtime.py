"""The consumer side of a process: what a handler gets, and how a pump is served.

A handler factory is ``module:attribute`` naming a callable that takes the
``Runtime`` and returns an async context manager yielding the handler, so a handler
can own clients (HTTP pools, sandboxes) for the life of the process::

    @asynccontextmanager
    async def handler(runtime: Runtime) -> AsyncIterator[Handler]:
        async with httpx.AsyncClient() as http:
            yield partial(handle, http=http)

A pump process serves ``METRICS_PORT`` with ``/metrics``, ``/healthz`` (the process's
event loop answers) and ``/readyz`` (Redis answers a PING and the pump is claiming),
for a Deployment's probes and a Knative Service's.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared.errors import ConfigurationError
from shared.logs import configure_logging
from shared.observability import (
    ActivationMetrics,
    Readiness,
    check_redis,
    with_activation_metrics,
    with_log_context,
)
from shared.settings import Settings
from shared.streams import (
    EffectLedger,
    Handler,
    Publisher,
    Pump,
    Redis,
    Route,
    StreamKeys,
    StreamMetrics,
    await_version,
    connect,
)

log = structlog.get_logger("botburrow.runtime")
PROBE_TIMEOUT_S = 2.0
"""How long ``/readyz`` waits for Redis."""


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """What a handler factory may use: settings and the process's shared clients."""

    settings: Settings
    redis: Redis
    keys: StreamKeys
    ledger: EffectLedger
    publisher: Publisher
    registry: CollectorRegistry

    @classmethod
    def over(cls, settings: Settings, redis: Redis, keys: StreamKeys, registry: CollectorRegistry) -> Runtime:
        """The runtime of a process talking to ``redis``: its effect ledger and publisher over it."""
        return cls(
            settings=settings,
            redis=redis,
            keys=keys,
            ledger=EffectLedger(redis, keys),
            publisher=Publisher(redis),
            registry=registry,
        )


HandlerFactory = Callable[[Runtime], AbstractAsyncContextManager[Handler]]


def load_factory(path: str) -> HandlerFactory:
    """Import the handler factory named ``module:attribute``.

    Raises:
        ConfigurationError: the module or attribute does not exist or is not callable.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"RUNNER_HANDLER={path!r}: cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigurationError(f"RUNNER_HANDLER={path!r}: {module_name} has no callable {attribute!r}")
    return factory  # type: ignore[no-any-return]


def runner_route(keys: StreamKeys, settings: Settings) -> Route:
    """A runner's streams: those of its pool (``RUNNER_MODE``), serialised per agent."""
    return Route.activations(keys, settings.streams, priorities=settings.runner.mode.priorities)


def results_route(keys: StreamKeys, settings: Settings) -> Route:
    """The metrics function's stream: the results, as its own group."""
    return Route.results(keys, settings.streams)


def default_consumer_name() -> str:
    """``<host>-<pid>-<random>``, readable in ``XINFO CONSUMERS``.

    The random part keeps it unique when a restarted container comes back with the same
    hostname and pid 1.
    """
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


async def serve_pump(
    settings: Settings,
    factory: HandlerFactory,
    *,
    registry: CollectorRegistry | None = None,
    route: Callable[[StreamKeys, Settings], Route] | None = None,
    once: bool = False,
    idle_exit_s: float = 60.0,
    status_gauges: bool = True,
) -> None:
    """Run one pump until SIGTERM or SIGINT, then drain and return.

    ``route`` picks what the pump consumes: the activation streams of the runner's pool
    (``runner_route``, the default: ``RUNNER_MODE``) or ``results_route`` (the metrics
    function). ``once`` is a Job's mode:
    claim one entry, handle and settle it, exit; or exit when nothing was there to
    claim within ``idle_exit_s`` (another Job took it). ``status_gauges=False``: the
    pump's stream status gauges are not exported, because the handler exports them itself
    (the metrics function, at scrape time).

    Raises:
        ConfigurationError: Redis is older than 7.0 or the handler cannot be built.
    """
    registry = registry or CollectorRegistry(auto_describe=True)
    keys = StreamKeys(settings.streams.prefix)
    async with AsyncExitStack() as stack:
        redis = connect(settings.redis_url, block_ms=settings.streams.block_ms)
        stack.push_async_callback(redis.aclose)
        pumps: list[Pump] = []  # the probes answer from the start; ready once the pump claims
        if settings.metrics_port:
            site = await _serve_probes(settings.metrics_port, registry, redis, lambda: bool(pumps) and pumps[0].ready)
            stack.push_async_callback(site.stop)
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()  # a SIGTERM while Redis is away: nothing was claimed, just exit
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        version = await await_version(redis, stop=stopping)
        if version is None:
            return
        runtime = Runtime.over(settings, redis, keys, registry)
        handler = await stack.enter_async_context(factory(runtime))
        # The same wrappers as over HTTP: log context (event, agent, trace) and activation metrics.
        handler = with_log_context(with_activation_metrics(handler, ActivationMetrics(registry)))
        pump = Pump(
            redis=redis,
            keys=keys,
            settings=settings.streams,
            handler=handler,
            consumer=settings.runner.consumer or default_consumer_name(),
            metrics=StreamMetrics(registry, status=status_gauges),
            concurrency=settings.runner.concurrency,
            grace_period_s=settings.runner.grace_period_s,
            route=(route or runner_route)(keys, settings),
            max_events=1 if once else None,
        )
        pumps.append(pump)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, pump.stop)
        if once:
            stack.enter_context(_stop_if_idle(pump, idle_exit_s))
        log.info(
            "runner.serving",
            consumer=pump.consumer,
            redis_version=version,
            handler=settings.runner.handler,
            streams=list(pump.streams),
            metrics_port=settings.metrics_port,
        )
        await pump.run()


def run_pump_process(
    prog: str,
    *,
    handler: str | None = None,
    route: Callable[[StreamKeys, Settings], Route] | None = None,
    once: bool = False,
    idle_exit_s: float = 60.0,
    status_gauges: bool = True,
) -> int:
    """The body of a pump process's ``main()``: settings, logs, the pump until SIGTERM.

    ``handler`` fixes the handler factory (the metrics function); by default it is
    ``RUNNER_HANDLER``. ``once``, ``status_gauges``: as ``serve_pump``. Returns the exit
    status: 0 after a drain, 2 on bad configuration.
    """
    try:
        settings = Settings.from_env()
        configure_logging(level=settings.log_level, json=settings.log_json, secrets=settings.secrets())
        factory = load_factory(handler or settings.runner.handler)
    except ConfigurationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    # Everything imported so far lives as long as the process: keep it out of GC scans.
    gc.freeze()
    try:
        pump = serve_pump(
            settings, factory, route=route, once=once, idle_exit_s=idle_exit_s, status_gauges=status_gauges
        )
        run_on_uvloop(pump)
    except ConfigurationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve_probes(
    port: int, registry: CollectorRegistry, redis: Redis, claiming: Callable[[], bool]
) -> web.TCPSite:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``port`` (all interfaces), on this loop."""

    async def metrics(_: web.Request) -> web.Response:
        # Off the loop: a scrape-time collector hands its Redis reads to this loop and waits.
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        pump_state = "ok" if claiming() else "not claiming"
        readiness = Readiness(checks={"pump": pump_state, "redis": await check_redis(redis, PROBE_TIMEOUT_S)})
        status, body = readiness.answer()
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, port=port)
    await site.start()
    return site


@contextmanager
def _stop_if_idle(pump: Pump, idle_s: float) -> Iterator[None]:
    """Stop a one-shot pump that claimed nothing within ``idle_s`` (another Job took the event)."""

    def check() -> None:
        if pump.claimed == 0:
            log.info("runner.idle_exit", idle_s=idle_s)
            pump.stop()

    handle = asyncio.get_running_loop().call_later(idle_s, check)
    try:
        yield
    finally:
        handle.cancel()


def run_on_uvloop(main_coro: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on uvloop where it is installed (every service of ours runs this way)."""
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's loop works, a little slower
        asyncio.run(main_coro)
    else:
        uvloop.run(main_coro)

"""``FunctionTarget``: the sync face of one function's handler, for functions-framework.

Built once per process by ``functions/<name>/main.py``. Nothing starts at import:
functions-framework's gunicorn imports the target in its master and forks the worker,
and a thread started before a fork does not exist after it. The loop thread and the
clients start on first use, in the process that uses them (checked by pid), and close
at interpreter exit (gunicorn exits its worker normally after SIGTERM).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import structlog
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, generate_latest

from shared.observability import ActivationMetrics, Readiness
from shared.runtime import HandlerFactory, load_factory
from shared.settings import Settings
from shared.streams import Redis, StreamKeys

from ._auth import AuthPolicy, PushAuth
from ._core import Core, Served
from ._loop import LoopThread

log = structlog.get_logger("botburrow.serving")

T = TypeVar("T")


class FunctionTarget:
    """One function's handler, clients and metrics, callable from request threads.

    Args:
        name: the function's name (``runner``, ``poller``, ``metrics``), for logs.
        settings: the process's settings.
        factory: the handler factory (the same one the pump would be given).
        auth: what a push must carry (checked by the serving layer before parsing).
        registry: where metrics are declared (a fresh one when ``None``).
        ready_timeout_s: how long ``/readyz`` waits for each dependency.
        close_timeout_s: how long closing the clients may take at exit.
    """

    def __init__(
        self,
        *,
        name: str,
        settings: Settings,
        factory: HandlerFactory,
        auth: PushAuth,
        registry: CollectorRegistry | None = None,
        ready_timeout_s: float = 2.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.settings = settings
        self.auth = auth
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.metrics = ActivationMetrics(self.registry)
        self._factory = factory
        self._ready_timeout_s = ready_timeout_s
        self._close_timeout_s = close_timeout_s
        self._lock = threading.Lock()
        self._pid = 0
        self._loop: LoopThread | None = None
        self._core: Core | None = None

    @classmethod
    def from_settings(cls, name: str, settings: Settings, *, handler: str, auth: AuthPolicy) -> FunctionTarget:
        """A target for the handler factory named ``module:attribute``, guarded by ``auth``.

        Raises:
            ConfigurationError: the factory cannot be imported.
        """
        return cls(name=name, settings=settings, factory=load_factory(handler), auth=auth(settings))

    def handle(self, event: CloudEvent) -> Served:
        """Run the handler on ``event`` and publish its outcome; exceptions pass through unchanged."""
        loop, core = self._started()
        return loop.run(core.serve(event))

    def run(self, work: Callable[[Redis, StreamKeys], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` on the target's loop with its Redis client and keys (a route of its own)."""
        loop, core = self._started()
        return loop.run(work(core.redis, core.keys))

    def readiness(self) -> Readiness:
        """Whether Redis and the Hub answer (never raises)."""
        try:
            loop, core = self._started()
            return loop.run(core.readiness(), timeout_s=self._ready_timeout_s * 2 + 1)
        except Exception as exc:  # a target that cannot start is simply not ready
            log.warning("serving.not_ready", function=self.name, error=type(exc).__name__)
            return Readiness(checks={"handler": f"cannot start: {type(exc).__name__}"})

    def exposition(self) -> bytes:
        """The Prometheus text exposition of this process's registry.

        Starts the target first, like ``readiness``: a handler may register gauges read at
        scrape time (the metrics function's), and a scrape may come before any event.
        """
        try:
            self._started()
        except Exception as exc:  # the registry is still worth serving: request counts, failures
            log.warning("serving.not_started", function=self.name, error=type(exc).__name__)
        return generate_latest(self.registry)

    def close(self) -> None:
        """Close the handler and the clients, then stop the loop (idempotent)."""
        with self._lock:
            loop, core, self._loop, self._core = self._loop, self._core, None, None
            owned = self._pid == os.getpid()
        if loop is None or core is None or not owned:
            return
        try:
            loop.run(core.__aexit__(None, None, None), timeout_s=self._close_timeout_s)
        except Exception as exc:  # closing is best effort at exit
            log.warning("serving.close_failed", function=self.name, error=type(exc).__name__)
        finally:
            loop.stop()

    def new_core(self) -> Core:
        """The async side of this target (clients, handler), not yet entered: ``async with`` it on its loop."""
        return Core(
            settings=self.settings,
            factory=self._factory,
            registry=self.registry,
            metrics=self.metrics,
            ready_timeout_s=self._ready_timeout_s,
        )

    @property
    def ready_timeout_s(self) -> float:
        """How long ``/readyz`` waits for each dependency."""
        return self._ready_timeout_s

    def _started(self) -> tuple[LoopThread, Core]:
        with self._lock:
            if self._loop is not None and self._core is not None and self._pid == os.getpid():
                return self._loop, self._core
            loop = LoopThread(name=f"botburrow-{self.name}")
            core = self.new_core()
            try:
                loop.run(core.__aenter__())
            except BaseException:
                loop.stop()
                raise
            first = self._pid == 0
            self._loop, self._core, self._pid = loop, core, os.getpid()
        if first:
            atexit.register(self.close)
        log.info("serving.started", function=self.name, pid=self._pid)
        return loop, core

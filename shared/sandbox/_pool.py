"""A warm pool: sandboxes started ahead of need, each handed to one activation only.

::

    acquire(spec) ─► a ready sandbox of the same shape? ─ yes ─► bind the agent's env ─► it
                          │ no                                    (refill in the background)
                          └─► start one now (a cold start)

Sandboxes are pooled by their shape (``SandboxSpec.shape``: image, network, limits),
because the agent's credentials and command limits are only known at acquire; they are
bound then (``Sandbox.bind``), and reach commands only (never the sandbox's init). A sandbox is never returned to the
pool: ``release`` destroys it, and the refill starts a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace
from typing import Any

import structlog

from ._metrics import MeteredSandbox, SandboxMetrics
from ._types import Backend, Sandbox, SandboxError, SandboxSpec

log = structlog.get_logger(__name__)

Shape = tuple[Any, ...]


class WarmPool:
    """Keeps ``size`` started sandboxes ready per shape asked for (``warm`` or a first ``acquire``).

    ``size=0`` turns the pool off: every acquire is a cold start.
    """

    def __init__(self, backend: Backend, *, size: int = 2, metrics: SandboxMetrics | None = None) -> None:
        self.backend = backend
        self._size = size
        self._metrics = metrics
        self._ready: dict[Shape, deque[Sandbox]] = {}
        self._refills: dict[Shape, asyncio.Task[None]] = {}
        self._closed = False

    def ready(self, spec: SandboxSpec) -> int:
        """How many sandboxes of ``spec``'s shape wait in the pool."""
        return len(self._ready.get(spec.shape(), ()))

    async def warm(self, spec: SandboxSpec) -> None:
        """Fill the pool for ``spec``'s shape now (at process start, for the default policy)."""
        self._refill(replace(spec, env={}))
        task = self._refills.get(spec.shape())
        if task is not None:
            await asyncio.shield(task)

    async def acquire(self, spec: SandboxSpec) -> Sandbox:
        """A sandbox of ``spec``'s shape with ``spec.env`` bound: from the pool, else started now.

        Raises:
            SandboxUnavailable: no sandbox could be started (engine down, image missing).
        """
        started = time.monotonic()
        ready = self._ready.get(spec.shape())
        sandbox = ready.popleft() if ready else None
        source = "warm" if sandbox is not None else "cold"
        if sandbox is None:
            sandbox = await self._start(replace(spec, env={}))
        sandbox.bind(spec)
        if self._size > 0:
            self._refill(replace(spec, env={}))
        if self._metrics is not None:
            self._metrics.acquire.labels(backend=self.backend.name, source=source).observe(time.monotonic() - started)
            sandbox = MeteredSandbox(sandbox, self._metrics)
        log.debug("sandbox.acquired", backend=self.backend.name, source=source, sandbox=sandbox.id[:12])
        return sandbox

    async def release(self, sandbox: Sandbox) -> None:
        """Destroy a sandbox an activation is done with (it is never handed out again)."""
        await sandbox.close()

    async def aclose(self) -> None:
        """Stop refilling and destroy every sandbox still waiting.

        A start in flight is awaited, not cancelled: cancelling it would leave its
        container running with nobody to remove it.
        """
        self._closed = True
        await asyncio.gather(*self._refills.values(), return_exceptions=True)
        waiting = [s for ready in self._ready.values() for s in ready]
        self._ready.clear()
        await asyncio.gather(*(s.close() for s in waiting), return_exceptions=True)

    def _stopping(self) -> bool:
        return self._closed

    async def _start(self, spec: SandboxSpec) -> Sandbox:
        started = time.monotonic()
        sandbox = await self.backend.start(spec)
        if self._metrics is not None:
            self._metrics.start.labels(backend=self.backend.name).observe(time.monotonic() - started)
        return sandbox

    def _refill(self, spec: SandboxSpec) -> None:
        key = spec.shape()
        running = self._refills.get(key)
        if self._closed or (running is not None and not running.done()):
            return
        self._refills[key] = asyncio.create_task(self._fill(key, spec), name=f"sandbox-refill-{self.backend.name}")

    async def _fill(self, key: Shape, spec: SandboxSpec) -> None:
        ready = self._ready.setdefault(key, deque())
        while not self._stopping() and len(ready) < self._size:
            try:
                sandbox = await self._start(spec)
            except SandboxError as exc:
                log.warning("sandbox.refill_failed", backend=self.backend.name, error=str(exc))
                return  # the next acquire tries again (and reports the error if it must start one)
            if self._stopping():  # aclose ran while it started
                await sandbox.close()
                return
            ready.append(sandbox)

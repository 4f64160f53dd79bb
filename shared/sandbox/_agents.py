"""Sandboxes for agents: the process's backend and warm pool, each agent's spec from its grants.

The backend is chosen at the first acquire, not at process start, so a runner whose
agents never touch a workspace never asks for an engine; the pool starts filling after
that first acquire, for the same reason (idle containers cost memory on the engine).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry

from shared.agents import AgentConfig

from ._factory import base_spec, open_backend
from ._grants import spec_for
from ._metrics import SandboxMetrics
from ._pool import WarmPool
from ._types import Sandbox

if TYPE_CHECKING:
    from shared.settings import SandboxSettings

log = structlog.get_logger(__name__)


class AgentSandboxes:
    """Acquire a sandbox shaped by an agent's grants; release it when the activation ends."""

    def __init__(self, settings: SandboxSettings, *, registry: CollectorRegistry | None = None) -> None:
        self._settings = settings
        self._metrics = SandboxMetrics(registry) if registry is not None else None
        self._base = base_spec(settings)
        self._pool: WarmPool | None = None
        self._opening = asyncio.Lock()

    async def acquire(self, config: AgentConfig) -> Sandbox:
        """A fresh sandbox for one activation of the agent ``config`` describes.

        Raises:
            SandboxUnavailable: no backend can start one (transient: the activation is retried).
        """
        pool = await self._pool_now()
        return await pool.acquire(spec_for(config, self._base))

    async def release(self, sandbox: Sandbox) -> None:
        """Destroy the activation's sandbox."""
        if self._pool is not None:
            await self._pool.release(sandbox)
        else:
            await sandbox.close()

    async def aclose(self) -> None:
        """Destroy the waiting sandboxes and close the backend."""
        if self._pool is not None:
            await self._pool.aclose()
            await self._pool.backend.aclose()

    async def _pool_now(self) -> WarmPool:
        async with self._opening:
            if self._pool is None:
                backend = await asyncio.to_thread(open_backend, self._settings)
                log.info("sandbox.backend", backend=backend.name, pool_size=self._settings.pool_size)
                self._pool = WarmPool(backend, size=self._settings.pool_size, metrics=self._metrics)
            return self._pool

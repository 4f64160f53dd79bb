"""``CliHost``: what every CLI run of a runner process shares: the gateway, the backend, the installs.

A CLI's sandbox is not the workspace tools' (``shared.sandbox.AgentSandboxes``): it has
no network whatever the grants (the gateway is its only peer, through the mounted
socket) and room for a CLI's runtime (``CLI_MEMORY_MB``, ``CLI_PIDS``). Under bubblewrap
the host's install (``CLI_DIR``) and the forwarder are mounted read-only; a Docker
sandbox runs ``CLI_IMAGE``, which holds both at the same paths (the engine may be
another machine's, a pod's dind, where no host path of the runner exists), and only the
socket is mounted. It is started cold for each activation and destroyed after it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import structlog

from shared.agents import Brain
from shared.gateway import Api, Gateway, Upstream
from shared.sandbox import Backend, Sandbox, SandboxSpec, open_backend
from shared.settings import CliSettings, SandboxSettings

from ._types import CliSpec
from ._workspace import BASE_URL, CLI_DIR, FORWARD_SOURCE, FORWARDER, SOCKET

log = structlog.get_logger(__name__)

UpstreamFor = Callable[[Brain, Api], Upstream]


def not_installed(spec: CliSpec, cli_dir: Path) -> str | None:
    """Why ``spec``'s CLI is not installed under ``cli_dir`` (no executable binary), or ``None``."""
    binary = spec.binary(cli_dir)
    if not os.access(binary, os.X_OK):
        return f"{spec.name} is not installed: no executable {binary} (CLI_DIR={cli_dir}; make clis)"
    return None


class CliHost:
    """The gateway (answering on its unix socket), the sandbox backend, where the CLIs are installed.

    Args:
        settings: ``CLI_*``: the installs, the CLI image, the sandboxes' limits.
        sandbox: ``SANDBOX_*``: the backend, CPU share and workspace size.
        gateway: the runner's gateway, started with ``uds`` (the socket mounted into each sandbox).
        upstream: the provider and real key of an agent's brain, for the gateway.
        backend: the sandbox backend (default: the one ``sandbox`` asks for, opened at first use).
    """

    base_url = BASE_URL
    cli_dir_inside = Path(CLI_DIR)

    def __init__(
        self,
        *,
        settings: CliSettings,
        sandbox: SandboxSettings,
        gateway: Gateway,
        upstream: UpstreamFor,
        backend: Backend | None = None,
    ) -> None:
        if gateway.uds is None:
            raise ValueError("the CLIs reach the gateway through its unix socket: start it with uds=")
        self.settings = settings
        self.gateway = gateway
        self.upstream = upstream
        self._sandbox = sandbox
        self._backend = backend
        self._opening = asyncio.Lock()

    def unavailable(self, spec: CliSpec) -> str | None:
        """Why ``spec``'s CLI cannot run here (its binary is not installed), or ``None``."""
        return not_installed(spec, self.settings.dir)

    def spec(self, timeout_s: float, *, backend: str) -> SandboxSpec:
        """A CLI sandbox: no network, the gateway's socket mounted (and under bwrap the CLIs and the forwarder)."""
        socket = self.gateway.uds
        assert socket is not None  # checked at construction
        mounts: tuple[tuple[str, str], ...] = ((socket, SOCKET),)
        if backend == "bwrap":
            mounts = ((str(self.settings.dir.resolve()), CLI_DIR), (str(FORWARD_SOURCE), FORWARDER), *mounts)
        return SandboxSpec(
            image=self.settings.image,
            network=False,
            memory_mb=self.settings.address_space_mb if backend == "bwrap" else self.settings.memory_mb,
            cpus=self._sandbox.cpus,
            pids=self.settings.pids,
            workspace_mb=self._sandbox.workspace_mb,
            timeout_s=timeout_s,
            mounts=mounts,
        )

    async def start(self, *, timeout_s: float) -> Sandbox:
        """A fresh CLI sandbox for one activation (``timeout_s``: its commands' default limit).

        Raises:
            SandboxUnavailable: no backend can start one.
        """
        backend = await self._backend_now()
        return await backend.start(self.spec(timeout_s, backend=backend.name))

    async def aclose(self) -> None:
        """Close the backend's client (sandboxes are closed by their activations)."""
        if self._backend is not None:
            await self._backend.aclose()

    async def _backend_now(self) -> Backend:
        async with self._opening:
            if self._backend is None:
                self._backend = await asyncio.to_thread(open_backend, self._sandbox)
                log.info("cli.backend", backend=self._backend.name)
            return self._backend

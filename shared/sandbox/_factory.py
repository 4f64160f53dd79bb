"""The backend and default policy a process's settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._bwrap import BwrapBackend
from ._docker import DockerBackend
from ._types import Backend, BackendName, SandboxSpec, SandboxUnavailable

if TYPE_CHECKING:
    from shared.settings import SandboxSettings


def open_backend(settings: SandboxSettings, *, choice: BackendName | None = None) -> Backend:
    """The backend ``choice`` (default: ``settings.backend``).

    ``auto`` is docker when its engine answers, else bubblewrap when installed.

    Raises:
        SandboxUnavailable: naming what is missing (no engine at DOCKER_HOST, no bwrap).
    """
    wanted = choice or settings.backend.value
    if wanted in ("docker", "auto"):
        docker = DockerBackend(base_url=settings.docker_host)
        if wanted == "docker" or docker.available():
            return docker
    bwrap = BwrapBackend()
    if wanted == "bwrap" or bwrap.available():
        return bwrap
    raise SandboxUnavailable(
        f"no sandbox backend: no Docker engine answers on {settings.docker_host} (DOCKER_HOST) "
        "and bubblewrap is not installed (apt-get install bubblewrap)"
    )


def base_spec(settings: SandboxSettings) -> SandboxSpec:
    """The operator's default policy (``SANDBOX_*``), before an agent's grants shape it."""
    return SandboxSpec(
        image=settings.image,
        memory_mb=settings.memory_mb,
        cpus=settings.cpus,
        pids=settings.pids,
        workspace_mb=settings.workspace_mb,
    )

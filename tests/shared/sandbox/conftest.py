"""Sandbox fixtures: the real Docker engine (``DOCKER_HOST`` or the default socket) with
the sandbox image built (``scripts/ensure-sandbox``), and real bubblewrap.

Under ``CI=true`` a missing engine, image or bwrap fails the test instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import docker
import pytest

from shared.sandbox._docker import DockerBackend
from shared.sandbox._types import Sandbox
from shared.sandbox.image import DEFAULT_TAG
from tests.support import require

IMAGE = DEFAULT_TAG


@pytest.fixture(scope="session")
def docker_url() -> Iterator[str]:
    """The engine's address, once it is known to answer and to hold the sandbox image."""
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    probe = DockerBackend(base_url=url)
    require(probe.available(), f"no Docker engine answers on {url} (run scripts/ensure-sandbox)")
    try:
        require(probe.has_image(IMAGE), f"the sandbox image {IMAGE} is not built (run scripts/ensure-sandbox)")
    finally:
        probe.close()
    yield url


@pytest.fixture
def docker_client(docker_url: str) -> Iterator[docker.DockerClient]:
    """The SDK's client, for looking at containers from the outside."""
    client = docker.DockerClient(base_url=docker_url)
    yield client
    client.close()


@pytest.fixture
async def docker_backend(docker_url: str) -> AsyncIterator[DockerBackend]:
    """A Docker backend of this test's own; its containers are removed afterwards."""
    backend = DockerBackend(base_url=docker_url, owner=f"test-{os.getpid()}")
    yield backend
    backend.prune()
    await backend.aclose()


@pytest.fixture(scope="session")
def bwrap_path() -> str:
    path = shutil.which("bwrap")
    require(path is not None, "bubblewrap (bwrap) is not installed (run scripts/ensure-sandbox)")
    assert path is not None
    return path


async def sh(sb: Sandbox, script: str, **kw: object) -> tuple[int, str, str]:
    """``sh -c script`` in ``sb``: exit code, stdout and stderr as text."""
    result = await sb.exec(["sh", "-c", script], **kw)  # type: ignore[arg-type]
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


def interfaces(proc_net_dev: str) -> set[str]:
    """The interface names of a ``/proc/net/dev``."""
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:] if ":" in line}

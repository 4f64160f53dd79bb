"""The Docker engine a test runs against: its address once it answers and holds the image the test needs."""

from __future__ import annotations

import os

from shared.sandbox import DockerBackend

from ._paths import require


def docker_with(image: str, *, built_by: str) -> str:
    """``DOCKER_HOST`` (or the local socket) once its engine answers and has ``image``; else
    skip, or fail under ``CI=true``, naming the make target that builds it (``built_by``)."""
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    probe = DockerBackend(base_url=url)
    try:
        require(probe.available(), f"no Docker engine answers on {url} (make sandbox)")
        require(probe.has_image(image), f"the image {image} is not built (make {built_by})")
    finally:
        probe.close()
    return url

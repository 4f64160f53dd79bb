"""Where things are, and whether this run insists on them (``CI=true``)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
"""Under CI a missing dependency (Redis, Docker, bubblewrap, uv, the fixtures) fails instead of skipping."""
ROOT = Path(__file__).resolve().parents[2]
"""The checkout."""
FIXTURES = (ROOT.parent / "shared" / "fixtures").resolve()
"""``../shared/fixtures``: real agent definitions written outside this project (resolved, as the
loader reports paths: ``../shared`` may be a symlink)."""


def require(condition: bool, reason: str) -> None:
    """Skip when a dependency is missing, but fail under CI, where it must be present."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on loopback right now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

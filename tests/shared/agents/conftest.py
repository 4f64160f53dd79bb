"""Agent-definition fixtures from ``../shared/fixtures``, copies in tmp folders, a moto S3 server.

Under ``CI=true`` a missing fixtures folder fails the tests that need it instead of
skipping them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import FIXTURES, require
from tests.support.s3 import moto_server

DEFINITIONS = FIXTURES / "agent-definitions"
INVALID = FIXTURES / "invalid-agents"
SCHEMAS = DEFINITIONS / "schemas"
MISSING = "fixtures-missing"


def folders(parent: Path, marker: str = "config.yaml") -> list[str]:
    """Names of the folders in ``parent`` holding ``marker``, for parametrising (a placeholder when absent)."""
    if not parent.is_dir():
        return [MISSING]
    return sorted(p.name for p in parent.iterdir() if (p / marker).is_file())


VALID_NAMES = folders(DEFINITIONS / "agents")
INVALID_NAMES = folders(INVALID)
SKILL_NAMES = folders(DEFINITIONS / "skills", "SKILL.md")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """``../shared/fixtures``: skipped when absent, a failure under CI."""
    present = DEFINITIONS.is_dir() and INVALID.is_dir() and SCHEMAS.is_dir()
    require(present, f"the agent-definition fixtures are missing from {FIXTURES}")
    return FIXTURES


def copy_agents(source: Path, dest: Path, names: list[str]) -> Path:
    """Copy agent folders ``names`` from ``source`` into ``dest`` (a folder of agents)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(source / name, dest / name)
    return dest


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server over HTTP on loopback, one for the session."""
    with moto_server() as endpoint:
        yield endpoint

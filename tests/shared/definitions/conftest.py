"""A moto S3 server, a bucket per test, and a definitions repository made with the git binary."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import FIXTURES, require
from tests.support.git import Repo
from tests.support.s3 import admin_client, moto_server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFINITIONS = FIXTURES / "agent-definitions"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"defs-{uuid.uuid4().hex[:10]}"
    admin_client(moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def admin(moto_endpoint: str) -> S3Client:
    return admin_client(moto_endpoint)


@pytest.fixture(scope="session")
def definitions() -> Path:
    require(DEFINITIONS.is_dir(), f"the agent-definition fixtures are missing from {DEFINITIONS}")
    return DEFINITIONS


@pytest.fixture
def repo(tmp_path: Path, definitions: Path) -> Repo:
    """A definitions repository holding the fixtures' agents and skills, one commit."""
    made = Repo(tmp_path / "agent-definitions")
    for top in ("agents", "skills"):
        shutil.copytree(definitions / top, made.path / top)
    made.write("README.md", "Our agents.\n")
    made.commit("the fixtures")
    return made

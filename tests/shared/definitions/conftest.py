"""A moto S3 server, a bucket per test, and git repositories made with the git binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import FIXTURES, child_env, require
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


class Repo:
    """A git repository in a test's folder, committed to with the real git binary."""

    def __init__(self, path: Path) -> None:
        git = shutil.which("git")
        require(git is not None, "git is not installed")
        assert git is not None
        self.git = git
        self.path = path
        path.mkdir(parents=True)
        self.run("init", "--quiet", "--initial-branch=main")

    def run(self, *args: str) -> str:
        env = child_env(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
        identity = ["-c", "user.name=Sync Test", "-c", "user.email=sync@example.invalid", "-c", "commit.gpgsign=false"]
        done = subprocess.run(
            [self.git, "-C", str(self.path), *identity, *args], env=env, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    def commit(self, message: str) -> str:
        self.run("add", "--all")
        self.run("commit", "--quiet", "--allow-empty", "-m", message)
        return self.run("rev-parse", "HEAD").strip()

    def write(self, path: str, text: str) -> None:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


@pytest.fixture
def repo(tmp_path: Path, definitions: Path) -> Repo:
    """A definitions repository holding the fixtures' agents and skills, one commit."""
    made = Repo(tmp_path / "agent-definitions")
    for top in ("agents", "skills"):
        shutil.copytree(definitions / top, made.path / top)
    made.write("README.md", "Our agents.\n")
    made.commit("the fixtures")
    return made

"""Git repositories a test makes and commits to with the real git binary (required: under CI a failure, not a skip)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ._env import child_env
from ._paths import require


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

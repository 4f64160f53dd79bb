"""A git source, fetched shallow with the ``git`` binary into a folder of its own.

``git init`` + ``git fetch --depth 1 <url> <ref|HEAD>`` + ``git checkout FETCH_HEAD``
works alike for a branch, a tag and (where the server allows it) a commit, for any URL
git can fetch, a local path included. git runs with an environment built here, never the
process's: no prompt for a password, no user or system config, and only the ``file``,
``git``, ``http``, ``https`` and ``ssh`` transports (``ext::`` would run a command).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from shared.errors import ConfigurationError, TransientError
from shared.settings import SyncSource, redact_url

_PROTOCOLS = "file:git:http:https:ssh"


def fetch_git(source: SyncSource, into: Path, *, timeout_s: float) -> Path:
    """Check ``source`` out in ``into`` (created; it must not exist) and return it (blocking).

    Raises:
        ConfigurationError: no ``git`` binary.
        TransientError: git failed or took longer than ``timeout_s`` (its message redacted).
    """
    git = shutil.which("git")
    if git is None:
        raise ConfigurationError(f"sync source {source}: the git binary is not installed")
    into.mkdir(parents=True)
    env = {
        "PATH": os.pathsep.join([str(Path(git).parent), os.defpath]),
        "HOME": str(into),
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": _PROTOCOLS,
    }
    steps = [
        [git, "init", "--quiet", str(into)],
        [git, "-C", str(into), "fetch", "--quiet", "--depth", "1", "--no-tags", source.location, source.ref or "HEAD"],
        [git, "-C", str(into), "-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD"],
    ]
    for argv in steps:
        try:
            done = subprocess.run(argv, env=env, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TransientError(f"sync source {source}: git {argv[3]} took more than {timeout_s:g}s") from exc
        if done.returncode != 0:
            said = redact_url(_last_line(done.stderr))
            what = argv[1] if argv[1] != "-C" else argv[3]
            raise TransientError(f"sync source {source}: git {what} failed (exit {done.returncode}): {said}")
    return into


def _last_line(output: bytes) -> str:
    lines = output.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else ""

"""A private PostgreSQL server for a test session: initdb in a temporary directory, a free port.

Run as root, the server runs as the ``postgres`` user (it refuses root), as Debian's package
creates it. Under ``CI=true`` a missing PostgreSQL fails instead of skipping (``require``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ._env import child_env
from ._paths import free_port
from .polling import eventually_sync


def binaries() -> Path | None:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``, newest version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """``with PostgresServer() as pg:`` a server on ``pg.port``; ``pg.sql(...)`` runs statements as the superuser."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._dir = Path(tempfile.mkdtemp(prefix="botburrow-pg-"))
        self.port = free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self._dir, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self._data = self._dir / "data"

    def __enter__(self) -> PostgresServer:
        env = child_env(LC_ALL="C.UTF-8")
        self._run(
            [str(self._bin / "initdb"), "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8"], env
        )
        self._run(
            [
                str(self._bin / "pg_ctl"),
                "-D",
                str(self._data),
                "-l",
                str(self._dir / "log"),
                "-o",
                f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1",
                "-w",
                "start",
            ],
            env,
        )
        eventually_sync(lambda: self.sql("SELECT 1").strip() == "1", timeout_s=30)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run([str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "immediate", "stop"], child_env())
        shutil.rmtree(self._dir, ignore_errors=True)

    def url(self, user: str, password: str, database: str = "postgres") -> str:
        """A connection URL for ``user`` over TCP on loopback."""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> str:
        """Run ``statement`` as the superuser over the unix socket; its output, unaligned."""
        psql = self._bin / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        done = subprocess.run(
            [str(psql), "-h", str(self._dir), "-p", str(self.port), "-U", "postgres", "-At", "-c", statement],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            **self._as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return str(done.stdout)

    def _run(self, argv: list[str], env: dict[str, str]) -> None:
        subprocess.run(argv, env=env, capture_output=True, timeout=60, check=True, cwd=self._dir, **self._as)

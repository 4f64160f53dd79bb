"""Start a private, throwaway redis-server on a loopback port.

By default it has no persistence and a free port. For fault tests and soak runs it can
also keep an append-only file (``appendfsync="everysec"`` or ``"always"``) on a fixed
``port``, and be killed (SIGKILL), paused (SIGSTOP) and restarted on the same port and
data directory, so that the restart replays the AOF as a real crash recovery would.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

MIN_VERSION = (7, 0)

AppendFsync = Literal["everysec", "always"]
"""When an append-only redis-server fsyncs its AOF: once a second, or on every write."""


class RedisServerMissing(RuntimeError):
    """No usable redis-server binary was found."""


def find_redis_server() -> str:
    """Path of a redis-server >= 7.0, or raise ``RedisServerMissing`` saying why."""
    path = shutil.which("redis-server")
    if path is None:
        raise RedisServerMissing("redis-server is not on PATH (apt-get install redis-server, or make redis)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False, env={}).stdout
    match = re.search(r"v=(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < MIN_VERSION:
        raise RedisServerMissing(f"{path} is too old ({out.strip()}); need 7.0 or later")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server child process, removed with its data directory on exit.

    Use as a context manager; ``url`` is ready once ``__enter__`` returns.

    ``port``: listen there (default: a free port, picked at start). ``appendfsync``:
    ``None`` (the default) keeps nothing on disk; ``"everysec"`` or ``"always"`` turns on
    ``appendonly yes`` with that fsync policy. ``kill`` (SIGKILL), ``pause``/``resume``
    (SIGSTOP/SIGCONT) and ``restart`` (again on the same port and data directory; the
    AOF, if any, is replayed before it answers PING) are for fault tests.
    """

    def __init__(
        self,
        *,
        executable: str | None = None,
        attempts: int = 5,
        port: int | None = None,
        appendfsync: AppendFsync | None = None,
    ) -> None:
        self._executable = executable or find_redis_server()
        self._attempts = attempts
        self._fixed_port = port
        self.appendfsync = appendfsync
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.port = port or 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The running server's process id, or ``None`` when it is not running."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def data_dir(self) -> Path:
        """Where the server keeps its log and, with ``appendfsync``, its AOF."""
        if self._dir is None:
            raise RuntimeError("redis-server was never started")
        return Path(self._dir.name)

    def start(self) -> RedisServer:
        """Start in a new data directory; with no fixed ``port``, on a free one."""
        self._dir = tempfile.TemporaryDirectory(prefix="botburrow-redis-")
        last_error = ""
        for _ in range(self._attempts):  # another process may grab the free port first
            self.port = self._fixed_port or _free_port()
            if self._spawn():
                return self
            last_error = self._log_tail()
            self.stop()
        raise RuntimeError(f"redis-server did not start: {last_error}")

    def restart(self, *, timeout_s: float = 30.0) -> RedisServer:
        """Start again on the same port and data directory; return once it answers PING.

        A server still running is stopped first (SIGTERM). With ``appendfsync`` the AOF is
        replayed: PING answers (rather than ``-LOADING``) only once it is loaded.
        """
        if self._dir is None:
            raise RuntimeError("redis-server was never started")
        self.stop()
        deadline = time.monotonic() + timeout_s
        while not self._spawn(timeout_s=max(1.0, deadline - time.monotonic())):
            # The old listening socket may linger a moment after a kill; try again.
            if time.monotonic() >= deadline:
                raise RuntimeError(f"redis-server did not restart on port {self.port}: {self._log_tail()}")
            self.stop()
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL the server, as a crash would: nothing is flushed beyond what was fsynced."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        self._process = None

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open, nothing answers (a hung host)."""
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        self._process.send_signal(signal.SIGCONT)

    def _arguments(self) -> list[str]:
        persistence = ["--appendonly", "no"]
        if self.appendfsync is not None:
            persistence = ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        return [
            self._executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]

    def _spawn(self, timeout_s: float = 10.0) -> bool:
        self._process = subprocess.Popen(
            self._arguments(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},  # it needs nothing of ours, and gets none of our secrets
            # Its own session: a Ctrl-C meant for the process that owns it (the emulator,
            # draining its runners) must not stop Redis under them; ``stop`` does that.
            start_new_session=True,
        )
        return self._wait_ready(timeout_s)

    def _log_tail(self) -> str:
        log = self.data_dir / "redis.log"
        return log.read_text(errors="replace")[-500:] if log.exists() else "no log"

    def _wait_ready(self, timeout_s: float = 10.0) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """SIGTERM the server (it flushes its AOF) and wait; SIGKILL it after 5 s."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

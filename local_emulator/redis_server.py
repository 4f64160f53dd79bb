"""Start a private, throwaway redis-server on a free loopback port."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

MIN_VERSION = (7, 0)


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
    """A redis-server child process with no persistence, removed on exit.

    Use as a context manager; ``url`` is ready once ``__enter__`` returns.
    """

    def __init__(self, *, executable: str | None = None, attempts: int = 5) -> None:
        self._executable = executable or find_redis_server()
        self._attempts = attempts
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self._dir = tempfile.TemporaryDirectory(prefix="botburrow-redis-")
        last_error = ""
        for _ in range(self._attempts):  # another process may grab the free port first
            self.port = _free_port()
            log = Path(self._dir.name) / "redis.log"
            self._process = subprocess.Popen(
                [
                    self._executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self._dir.name,
                    "--logfile",
                    str(log),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},  # it needs nothing of ours, and gets none of our secrets
                # Its own session: a Ctrl-C meant for the process that owns it (the emulator,
                # draining its runners) must not stop Redis under them; ``stop`` does that.
                start_new_session=True,
            )
            if self._wait_ready():
                return self
            last_error = log.read_text(errors="replace")[-500:] if log.exists() else "no log"
            self.stop()
        raise RuntimeError(f"redis-server did not start: {last_error}")

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
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
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

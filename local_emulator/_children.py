"""The emulator's child processes: started in their own session, stopped with their whole group.

Every service of the emulator is a real process started the way a platform would start
it (``functions-framework`` for the HTTP targets, ``python -m functions.runner`` for a
pump). Each gets its own session, so stopping it signals the whole process group:
gunicorn's worker, or anything a child started, cannot outlive the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("botburrow.emulator")


class PortTaken(RuntimeError):
    """A port the emulator was asked to serve on is in use."""


def check_ports(ports: Mapping[str, int], *, host: str = "127.0.0.1") -> None:
    """Raise ``PortTaken`` naming every service whose port cannot be bound."""
    taken: list[str] = []
    for name, port in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                taken.append(f"{name} {host}:{port}")
    if taken:
        hint = "stop what holds it, or choose others with --port-base or --NAME-port"
        raise PortTaken("port in use: " + ", ".join(taken) + f" ({hint})")


@dataclass
class Child:
    """One service process; its output goes to ``logs/<name>.log``."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    logs: Path
    standby: bool = False  # started with a pipe on stdin, to be told "go" (``local_emulator._pod``)
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                env=dict(self.env),
                stdin=asyncio.subprocess.PIPE if self.standby else asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
        log.debug("emulator.child_started", child=self.name, pid=self.process.pid)

    async def go(self) -> None:
        """Tell a standby child to start its real work."""
        assert self.process is not None and self.process.stdin is not None, "not a standby child"
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()
        self.process.stdin.close()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group (nothing if it is gone)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, *, grace_s: float) -> int | None:
        """SIGTERM, up to ``grace_s`` to exit, then SIGKILL; always reaps the whole group."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=grace_s)
            except TimeoutError:
                log.warning("emulator.child_killed", child=self.name, after_s=grace_s)
        self.signal(signal.SIGKILL)  # stragglers of the group (a gunicorn worker), if any
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()
        return self.process.returncode

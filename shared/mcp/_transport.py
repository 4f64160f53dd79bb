"""The MCP stdio transport over a server the runner started itself (in a sandbox), not by the SDK.

The SDK's ``stdio_client`` spawns its own child with the runner's ``HOME``, ``PATH``...
merged in; a server must get exactly its plan's environment, inside its sandbox. So the
server comes from a launcher (``_launch``: a process in bubblewrap or a plain child, or a
container on the Docker engine) as ``Pipes``, and this bridges them to the session's
streams: newline-delimited JSON-RPC on stdout and stdin; stderr, never the protocol, is
handed line by line to ``on_stderr`` (redacted logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

EXIT_GRACE_S = 2.0
"""How long a server whose stdin was closed may take to exit before it is killed."""
LINE_LIMIT = 16 * 1024 * 1024
"""The longest line (one JSON-RPC message) read from a server."""


class Writer(Protocol):
    """A server's stdin."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...


class Pipes(Protocol):
    """A running server's stdin, stdout and stderr, and how to stop it."""

    @property
    def stdin(self) -> Writer: ...
    @property
    def stdout(self) -> asyncio.StreamReader: ...
    @property
    def stderr(self) -> asyncio.StreamReader: ...
    async def stop(self) -> None:
        """After stdin is closed: let it exit for a moment (``EXIT_GRACE_S``), then kill it."""
        ...


class ProcessPipes:
    """``Pipes`` of a child process started with three pipes in a session of its own."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.stdin: Writer = proc.stdin
        self.stdout: asyncio.StreamReader = proc.stdout
        self.stderr: asyncio.StreamReader = proc.stderr

    async def stop(self) -> None:
        """Let the server exit on its closed stdin for a moment, then kill its whole process group."""
        proc = self.proc
        if proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), EXIT_GRACE_S)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


@asynccontextmanager
async def pipe_streams(pipes: Pipes, *, on_stderr: Callable[[str], None]) -> AsyncIterator[TransportStreams]:
    """The session's streams over a server's pipes; on exit its stdin is closed, then it is stopped."""
    stdin, stdout, stderr = pipes.stdin, pipes.stdout, pipes.stderr
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](0)

    async def write() -> None:
        async with write_receive:
            async for outgoing in write_receive:
                data = outgoing.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                try:
                    stdin.write(data.encode())
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return

    async def drain() -> None:
        while line := await stderr.readline():
            on_stderr(line.decode("utf-8", "replace").rstrip())

    tasks = [asyncio.create_task(_read(stdout, read_send)), asyncio.create_task(write()), asyncio.create_task(drain())]
    try:
        yield read_receive, write_send
    finally:
        for task in tasks[:2]:
            task.cancel()
        with contextlib.suppress(Exception):
            stdin.close()
        await pipes.stop()
        tasks[2].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in (read_send, read_receive, write_send, write_receive):
            stream.close()


async def _read(stdout: asyncio.StreamReader, send: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
    """The server's stdout, one JSON-RPC message per line, into the session's read stream."""
    async with send:
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError) as exc:
                await send.send(ConnectionError(f"the server wrote a message past the size limit: {exc}"))
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValueError as exc:
                await send.send(exc)
                continue
            await send.send(SessionMessage(message))

"""The MCP stdio transport over a process the runner started itself (in a sandbox), not by the SDK.

The SDK's ``stdio_client`` spawns its own child with the runner's ``HOME``, ``PATH``...
merged in; a server must get exactly its plan's environment, inside bubblewrap. So the
process comes from ``BwrapSandbox.spawn`` (or, with ``MCP_SANDBOX=none``, a plain child
with an explicit environment) and this bridges its pipes to the session's streams:
newline-delimited JSON-RPC on stdout and stdin; stderr, never the protocol, is handed
line by line to ``on_stderr`` (redacted logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

_EXIT_GRACE_S = 2.0


@asynccontextmanager
async def process_streams(
    proc: asyncio.subprocess.Process, *, on_stderr: Callable[[str], None]
) -> AsyncIterator[TransportStreams]:
    """The session's streams over ``proc``'s pipes; on exit its stdin is closed, then its group killed."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
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
        await stop(proc)
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


async def stop(proc: asyncio.subprocess.Process) -> None:
    """Let the server exit on its closed stdin for a moment, then kill its whole process group."""
    if proc.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), _EXIT_GRACE_S)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

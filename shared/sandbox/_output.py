"""A command's output as it arrives: kept up to a limit per stream, the rest counted and dropped."""

from __future__ import annotations

import asyncio
import threading

from ._types import OnOutput, Stream


class Collector:
    """Keeps at most ``limit`` bytes of each stream; safe to feed from a reader thread.

    ``on_output`` (if any) sees every chunk, on ``loop`` when one is given (the reader
    runs in a thread), else in the caller's thread.
    """

    def __init__(self, limit: int, on_output: OnOutput | None = None, loop: asyncio.AbstractEventLoop | None = None):
        self._limit = limit
        self._on_output = on_output
        self._loop = loop
        self._kept: dict[Stream, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, stream: Stream, chunk: bytes) -> None:
        """Take one chunk of ``stream``."""
        if not chunk:
            return
        with self._lock:
            kept = self._kept[stream]
            room = max(0, self._limit - len(kept))
            kept += chunk[:room]
            self.dropped += max(0, len(chunk) - room)
        if self._on_output is not None:
            if self._loop is None:
                self._on_output(stream, chunk)
            else:
                self._loop.call_soon_threadsafe(self._on_output, stream, chunk)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def stdout(self) -> bytes:
        return bytes(self._kept["stdout"])

    def stderr(self) -> bytes:
        return bytes(self._kept["stderr"])

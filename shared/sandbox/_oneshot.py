"""One command in a fresh sandbox, its output streamed: ``botburrow sandbox exec``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, BinaryIO

from ._factory import base_spec, open_backend
from ._types import BackendName, Stream

if TYPE_CHECKING:
    from shared.settings import SandboxSettings


async def exec_once(
    settings: SandboxSettings,
    argv: Sequence[str],
    *,
    backend: BackendName | None = None,
    network: bool = False,
    timeout_s: float | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> int:
    """Run ``argv`` in a new sandbox with the default policy, stream its output, destroy it.

    The command gets no credentials and, unless ``network``, no network. Returns its
    exit code (137 when killed at ``timeout_s`` or by the memory limit).

    Raises:
        SandboxUnavailable: no engine or bwrap, or the image is missing.
    """
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer

    def show(stream: Stream, chunk: bytes) -> None:
        target = out if stream == "stdout" else err
        target.write(chunk)
        target.flush()

    spec = replace(base_spec(settings), network=network, max_output_bytes=1)  # streamed, not kept
    chosen = open_backend(settings, choice=backend)
    try:
        sandbox = await chosen.start(spec)
        try:
            result = await sandbox.exec(argv, timeout_s=timeout_s, on_output=show)
        finally:
            await sandbox.close()
    finally:
        await chosen.aclose()
    if result.timed_out:
        err.write(f"botburrow sandbox: killed at the {timeout_s or spec.timeout_s:g} s limit\n".encode())
        err.flush()
    return result.exit_code

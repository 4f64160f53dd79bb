"""A CLI's sandbox: what is mounted where, the run's fresh HOME, and the forwarder in front of the CLI.

::

    /opt/botburrow/clis          the CLIs' install (CLI_DIR), read-only
    /opt/botburrow/forward.py    the forwarder (standard-library Python)
    /run/botburrow/gateway.sock  the runner's gateway, the sandbox's only way out
    /workspace                   the CLI's working directory
    /workspace/.home             its HOME, made fresh for the activation (TMPDIR inside)
    /workspace/.botburrow        the run's config files (MCP configuration, model metadata)

The sandbox has no network: ``forward.py`` listens on ``127.0.0.1:FORWARD_PORT`` inside
it and pipes each connection to the mounted socket, so the CLI's base URL is
``http://127.0.0.1:4141`` whatever backend runs it.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

from shared.sandbox import SANDBOX_UID, WORKSPACE

CLI_DIR = "/opt/botburrow/clis"
FORWARDER = "/opt/botburrow/forward.py"
SOCKET = "/run/botburrow/gateway.sock"
FORWARD_PORT = 4141
BASE_URL = f"http://127.0.0.1:{FORWARD_PORT}"
HOME = f"{WORKSPACE}/.home"
CONFIG_DIR = f"{WORKSPACE}/.botburrow"
FORWARD_SOURCE = Path(__file__).with_name("forward.py")


def forwarded(argv: list[str]) -> list[str]:
    """``argv`` run behind the forwarder: the gateway on loopback for as long as it runs."""
    return ["python3", FORWARDER, str(FORWARD_PORT), SOCKET, "--", *argv]


def setup_archive(files: Mapping[str, bytes]) -> bytes:
    """A tar (for ``Sandbox.put_archive`` at the workspace) of HOME, its TMPDIR, the config dir and ``files``.

    Every entry belongs to the sandbox's user, private to it; ``files`` are paths under the workspace.
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for directory in (HOME, f"{HOME}/tmp", CONFIG_DIR):
            tar.addfile(_entry(directory, tarfile.DIRTYPE, 0o700))
        for path, data in files.items():
            info = _entry(path, tarfile.REGTYPE, 0o600)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _entry(path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    if not path.startswith(WORKSPACE + "/"):
        raise ValueError(f"{path!r} is not under {WORKSPACE}")
    info = tarfile.TarInfo(path[len(WORKSPACE) + 1 :])
    info.type, info.mode, info.uid, info.gid = kind, mode, SANDBOX_UID, SANDBOX_UID
    return info

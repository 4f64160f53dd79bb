"""What the workspace tools refuse before anything runs.

A path outside the workspace, and a command the agent's shell policy forbids.

``confine`` normalises a path lexically (relative to ``WORKSPACE``; ``..``, NUL and control
characters cannot leave it); the file scripts (``_file_scripts``) then check it again inside
the sandbox, against symlinks. ``check_command`` applies ``capabilities.shell``: an
allow-list of programs by bare name, and blocked patterns.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from shared.agents import Shell

from ._types import WORKSPACE, SandboxError


class PathRefused(SandboxError):
    """A path the file tools will not touch: empty, with a NUL or control character, or outside the workspace."""


def confine(path: str) -> str:
    """``path`` as a normalised absolute path in the workspace (lexically: symlinks are the sandbox's check).

    A relative path is taken from ``WORKSPACE``; an absolute one must be ``WORKSPACE`` or
    under it. ``..`` is resolved lexically and may not leave the workspace.

    Raises:
        PathRefused: ``path`` is empty, holds a NUL or another control character, or
            leaves the workspace.
    """
    if not isinstance(path, str) or not path:
        raise PathRefused("the path is empty")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise PathRefused(f"the path {path!r} holds a NUL or control character")
    absolute = posixpath.normpath(path if path.startswith("/") else f"{WORKSPACE}/{path}")
    if absolute.startswith("//"):  # normpath keeps a leading "//" (POSIX leaves it implementation-defined)
        absolute = "/" + absolute.lstrip("/")
    if absolute != WORKSPACE and not absolute.startswith(WORKSPACE + "/"):
        raise PathRefused(f"path escapes the workspace: {path!r} is outside {WORKSPACE}")
    return absolute


def check_command(argv: Sequence[str], shell: Shell) -> str | None:
    """Why the policy ``shell`` refuses ``argv``, or ``None`` when it may run.

    Refused: a disabled shell; an empty argv or a NUL byte; when ``allowed_commands`` is
    not empty, an ``argv[0]`` that is not exactly one of them (a path such as
    ``/usr/bin/git`` or ``./git`` never is); any ``blocked_patterns`` entry that occurs in
    the command line (``" ".join(argv)``, also with runs of whitespace collapsed) or in
    one argument. Patterns are substrings, not a security boundary: the sandbox is.
    """
    if not shell.enabled:
        return "shell commands are disabled for this agent"
    if not argv or not all(isinstance(a, str) for a in argv):
        return "the command must be a non-empty list of strings"
    if not argv[0]:
        return "the program name is empty"
    if any("\0" in a for a in argv):
        return "the command holds a NUL byte"
    program = argv[0]
    if shell.allowed_commands and ("/" in program or program not in shell.allowed_commands):
        allowed = ", ".join(shell.allowed_commands)
        return f"{program!r} is not an allowed command (allowed: {allowed}; give the bare program name)"
    line = " ".join(argv)
    collapsed = _collapse(line)
    for pattern in shell.blocked_patterns:
        if not pattern.strip():
            continue
        if pattern in line or _collapse(pattern) in collapsed or any(pattern in arg for arg in argv):
            return f"the command matches the blocked pattern {pattern!r}"
    return None


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)

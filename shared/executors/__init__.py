"""Executors: what runs an agent's turn, by its ``type``, behind one interface.

``native`` is the built-in loop in the runner process (``NativeExecutor``);
``claude-code``, ``opencode``, ``aider`` and ``goose`` are coding CLIs run inside the
activation's sandbox (``CliExecutor`` over a ``CliSpec``), with no network and no
credential: the runner's activation gateway (``shared.gateway``), reached through a
mounted unix socket and a forwarder inside the sandbox, is their only peer, for the LLM,
the Hub tools and the granted MCP servers. Each returns the loop's ``LoopResult``, so
the activation posts, accounts and reports alike whatever ran.

``executors(host)`` gives the process's ``Executors``; an agent whose executor cannot
run here (its CLI is not installed) is refused with ``ExecutorUnavailable``. See
``docs/executors.md``.
"""

from collections.abc import Callable

from shared.settings import CliSettings

from ._aider import Aider
from ._claude import ClaudeCode
from ._cli import CliExecutor, CliFailed
from ._goose import Goose
from ._host import CliHost, not_installed
from ._native import NativeExecutor
from ._opencode import OpenCode
from ._registry import Executors, ExecutorUnavailable, unknown_type
from ._types import CliCommand, CliJob, CliReport, CliSpec, Executor
from ._workspace import BASE_URL, CLI_DIR, SOCKET

CLI_SPECS: tuple[CliSpec, ...] = (ClaudeCode(), OpenCode(), Aider(), Goose())
"""The coding CLIs, one per agent type."""


def executors(host: CliHost | None) -> Executors:
    """The native loop, and each coding CLI when ``host`` is given (``None``: native only)."""
    return Executors([NativeExecutor(), *(CliExecutor(spec, host) for spec in CLI_SPECS if host is not None)])


def availability(settings: CliSettings) -> Callable[[str], str | None]:
    """Why agents of a ``type`` cannot run with the CLIs ``settings`` installs (``None``: they can).

    What the runner's ``executors`` would say, without a gateway: for the poller, which
    runs from the same image as the runners.
    """
    known = {"native": None, **{spec.name: spec for spec in CLI_SPECS}}

    def unrunnable(agent_type: str) -> str | None:
        if agent_type not in known:
            return unknown_type(agent_type, known)
        spec = known[agent_type]
        return None if spec is None else not_installed(spec, settings.dir)

    return unrunnable


__all__ = [
    "BASE_URL",
    "CLI_DIR",
    "CLI_SPECS",
    "SOCKET",
    "Aider",
    "ClaudeCode",
    "CliCommand",
    "CliExecutor",
    "CliFailed",
    "CliHost",
    "CliJob",
    "CliReport",
    "CliSpec",
    "Executor",
    "ExecutorUnavailable",
    "Executors",
    "Goose",
    "NativeExecutor",
    "OpenCode",
    "availability",
    "executors",
]

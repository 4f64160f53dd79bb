"""Where an activation's stdio servers run (``MCP_SANDBOX``): one launcher per activation.

``bwrap``   one bubblewrap sandbox; each server a process in it (``BwrapSandbox.spawn``)
``docker``  each server a container on the Docker engine (``_docker``): where bubblewrap
            cannot make namespaces, as in a Kubernetes pod
``none``    plain children with an explicit environment: machines without either, never
            production

A launcher runs the plan's ``prepare`` commands once, hands each server out as ``Pipes``,
and on ``close`` stops whatever is still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import structlog

from shared.sandbox import BwrapBackend, BwrapSandbox, SandboxSpec

from ._plan import Plan, ServerPlan
from ._transport import LINE_LIMIT, Pipes, ProcessPipes

log = structlog.get_logger("botburrow.mcp")

MEMORY_MB = 32768
"""The address-space limit of a server in bubblewrap: V8 and WebAssembly reserve far more address
space than they use (a node server with fetch reserves gigabytes), so this bounds little; pids
and CPU hold."""
PIDS = 256
PREPARE_TIMEOUT_S = 30.0


class Launcher(Protocol):
    """Starts the stdio servers of one activation."""

    async def spawn(self, plan: ServerPlan, env: Mapping[str, str]) -> Pipes:
        """``plan``'s server, running with exactly ``env``; raises ``SandboxError`` or ``OSError``."""
        ...

    async def close(self) -> None:
        """Stop every server still running and release the activation's sandbox."""
        ...


class PlainLauncher:
    """``MCP_SANDBOX=none``: each server a child process of the runner, in a session of its own."""

    async def spawn(self, plan: ServerPlan, env: Mapping[str, str]) -> Pipes:
        proc = await asyncio.create_subprocess_exec(
            *plan.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
            limit=LINE_LIMIT,
        )
        return ProcessPipes(proc)

    async def close(self) -> None:
        """Nothing of its own: each server is stopped by its transport."""


class BwrapLauncher:
    """``MCP_SANDBOX=bwrap``: one bubblewrap sandbox per activation, each server a process in it."""

    def __init__(self, sandbox: BwrapSandbox, *, servers_dir: Path, lifetime_s: float) -> None:
        self._sandbox = sandbox
        self._binds = [str(servers_dir)] if servers_dir.is_dir() else []
        self._lifetime_s = lifetime_s

    @classmethod
    async def start(cls, backend: BwrapBackend, plan: Plan, *, servers_dir: Path, lifetime_s: float) -> BwrapLauncher:
        """The activation's sandbox, its ``prepare`` commands run; raises ``SandboxError``."""
        sandbox = await backend.start(SandboxSpec(timeout_s=lifetime_s, memory_mb=MEMORY_MB, pids=PIDS))
        for command in prepare_commands(plan):
            result = await sandbox.exec(list(command), timeout_s=PREPARE_TIMEOUT_S)
            if not result.ok:
                log.warning("mcp.prepare_failed", command=command[0], exit_code=result.exit_code)
        return cls(sandbox, servers_dir=servers_dir, lifetime_s=lifetime_s)

    async def spawn(self, plan: ServerPlan, env: Mapping[str, str]) -> Pipes:
        proc = await self._sandbox.spawn(
            plan.argv,
            lifetime_s=self._lifetime_s,
            env=env,
            binds=self._binds,
            network=plan.network,
            workspace=plan.workspace,
        )
        return ProcessPipes(proc)

    async def close(self) -> None:
        await self._sandbox.close()


def prepare_commands(plan: Plan) -> list[tuple[str, ...]]:
    """The stdio servers' ``prepare`` commands, each once, in order."""
    return list(dict.fromkeys(c for s in plan.servers if s.transport == "stdio" for c in s.prepare))

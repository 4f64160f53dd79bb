"""``McpHost``: the runner's MCP client side, starting an agent's servers for one activation.

::

    open(agent) ─► plan_servers (grants, credentials; what is left out goes to ``note``)
                ─► a launcher for the activation's stdio servers (``MCP_SANDBOX``: one
                   bubblewrap sandbox, or containers on the Docker engine; its /workspace is
                   the filesystem and git servers'), each server with only its plan's
                   environment and network, started side by side
                ─► initialize, list tools ─► the grant's allow-list ─► the pins ─► McpTools
                ─► (the activation runs) ─► every session closed, every process killed

Each server's session lives in a task of its own (the SDK's sessions must be left in the
task that entered them); a server that fails to start, or dies, takes only its own tools
away, and ``note`` says why. Server stderr goes to the logs, redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace

import httpx2
import mcp_types as types
import structlog
from mcp import ClientSession
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client

from shared.agents import AgentDefinition
from shared.errors import BotburrowError
from shared.logs import Redactor
from shared.sandbox import BwrapBackend, SandboxError
from shared.settings import McpSandboxChoice, McpSettings

from ._docker import IMAGE_SERVERS_DIR, DockerServers
from ._launch import BwrapLauncher, Launcher, PlainLauncher
from ._metrics import McpMetrics
from ._pins import ToolPins, definition_hash
from ._plan import Plan, ServerPlan, plan_servers
from ._tools import McpTools
from ._transport import pipe_streams

log = structlog.get_logger("botburrow.mcp")

Note = Callable[[str], None]
SERVER_PATH = "/usr/local/bin:/usr/bin:/bin"
"""``PATH`` of every server process."""
SERVER_HOME = "/workspace"


@dataclass
class _Running:
    """One server of an activation: its task, its session once up, why it stopped."""

    plan: ServerPlan
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Future[tuple[ClientSession, list[types.Tool]]] | None = None
    task: asyncio.Task[None] | None = None
    ended: str | None = None


class McpHost:
    """Starts the MCP servers of an agent's activation, and stops them.

    Args:
        settings: where the built-ins are installed, the sandbox, timeouts, credentials.
        pins: tool definitions pinned per agent (``None``: nothing is pinned or refused).
        redactor: masks the settings' secrets in server stderr and logged arguments.
        metrics: calls, latency, servers started, tools refused.
        lifetime_s: the longest a server may run (its CPU limit): the activation's deadline.
    """

    def __init__(
        self,
        settings: McpSettings,
        *,
        pins: ToolPins | None = None,
        redactor: Redactor | None = None,
        metrics: McpMetrics | None = None,
        lifetime_s: float = 600.0,
    ) -> None:
        self._settings = settings
        self._pins = pins
        self._redactor = redactor or Redactor()
        self._metrics = metrics
        self._lifetime_s = lifetime_s
        self._bwrap = BwrapBackend()
        self._docker = DockerServers(settings.docker_host, image=settings.image, lifetime_s=lifetime_s)
        docker = settings.sandbox is McpSandboxChoice.DOCKER
        self._plan_settings = replace(settings, servers_dir=IMAGE_SERVERS_DIR) if docker else settings
        """The servers' paths are the image's in Docker, this host's otherwise."""

    def plan(self, agent: AgentDefinition) -> Plan:
        """What ``open`` would start for ``agent`` (nothing is started)."""
        return plan_servers(agent.config.capabilities, self._plan_settings)

    @asynccontextmanager
    async def open(self, agent: AgentDefinition, *, note: Note) -> AsyncIterator[list[McpTools]]:
        """The agent's servers, started, as tool families; stopped when the block ends.

        Never raises for a server that cannot start: its tools are absent and ``note`` says why.
        """
        plan = self.plan(agent)
        for text in plan.notes:
            note(text)
            log.warning("mcp.not_started", agent=agent.name, reason=text)
        if not plan.servers:
            yield []
            return
        async with AsyncExitStack() as stack:
            launcher = await self._launcher(plan, note)
            if launcher is not None:
                stack.push_async_callback(launcher.close)
            running = [_Running(p) for p in plan.servers]
            stack.push_async_callback(self._stop, running)
            for server in running:
                if server.plan.transport == "stdio" and launcher is None:
                    continue  # no sandbox for them: noted once above
                server.ready = asyncio.get_running_loop().create_future()
                server.task = asyncio.create_task(self._serve(server, launcher), name=f"mcp-{server.plan.name}")
            families = await self._families(agent, running, note)
            yield families

    async def aclose(self) -> None:
        """Release the Docker engine's client, if one was made."""
        await self._docker.aclose()

    async def _launcher(self, plan: Plan, note: Note) -> Launcher | None:
        """Where the plan's stdio servers run; ``None`` (and a note) when that cannot start."""
        if not any(s.transport == "stdio" for s in plan.servers):
            return None
        choice = self._settings.sandbox
        try:
            if choice is McpSandboxChoice.DOCKER:
                return await self._docker.start(plan)
            if choice is McpSandboxChoice.BWRAP:
                return await BwrapLauncher.start(
                    self._bwrap, plan, servers_dir=self._settings.servers_dir, lifetime_s=self._lifetime_s
                )
        except (SandboxError, OSError) as exc:
            note(f"no stdio MCP server started: no sandbox for them ({exc})")
            log.warning("mcp.no_sandbox", sandbox=choice.value, error=str(exc))
            return None
        return PlainLauncher()

    async def _serve(self, server: _Running, launcher: Launcher | None) -> None:
        """Run one server's session until ``stop``; ``ready`` is its session and tools, or why not."""
        assert server.ready is not None
        plan = server.plan
        try:
            async with AsyncExitStack() as stack:
                streams = await stack.enter_async_context(self._transport(plan, launcher))
                session = await stack.enter_async_context(ClientSession(*streams))
                async with asyncio.timeout(self._settings.start_timeout_s):
                    await session.initialize()
                    listed = await session.list_tools()
                server.ready.set_result((session, list(listed.tools)))
                await server.stop.wait()
        except asyncio.CancelledError:
            server.ended = "stopped"
            raise
        except BaseException as exc:
            reason = _why(exc, self._settings.start_timeout_s)
            server.ended = reason
            if not server.ready.done():
                server.ready.set_exception(_Failed(reason))
            else:
                log.warning("mcp.server_stopped", server=plan.name, reason=reason)
        finally:
            server.ended = server.ended or "stopped"

    def _transport(
        self, plan: ServerPlan, launcher: Launcher | None
    ) -> contextlib.AbstractAsyncContextManager[TransportStreams]:
        if plan.transport == "http":
            assert plan.url is not None
            return _http(plan.url, dict(plan.headers))
        assert launcher is not None
        return self._stdio(plan, launcher)

    @asynccontextmanager
    async def _stdio(self, plan: ServerPlan, launcher: Launcher) -> AsyncIterator[TransportStreams]:
        pipes = await launcher.spawn(plan, {"PATH": SERVER_PATH, "HOME": SERVER_HOME, **plan.env})
        name = plan.name

        def on_stderr(line: str) -> None:
            if line:
                log.info("mcp.server_stderr", server=name, line=self._redactor.text(line)[:500])

        async with pipe_streams(pipes, on_stderr=on_stderr) as streams:
            yield streams

    async def _families(self, agent: AgentDefinition, running: list[_Running], note: Note) -> list[McpTools]:
        """Wait for every server to be up or failed; each one up as its family of tools."""
        families: list[McpTools] = []
        for server in running:
            if server.ready is None:
                continue
            name = server.plan.name
            try:
                session, tools = await server.ready
            except _Failed as exc:
                self._count_start(name, "failed")
                note(f"MCP server {name!r} did not start: {exc}")
                log.warning("mcp.start_failed", agent=agent.name, server=name, reason=str(exc))
                continue
            self._count_start(name, "ok")
            offered = await self._offered(agent, server.plan, tools, note)
            families.append(
                McpTools(
                    server=name,
                    session=session,
                    tools=offered,
                    call_timeout_s=self._settings.call_timeout_s,
                    redactor=self._redactor,
                    metrics=self._metrics,
                    gone=_ended(server),
                )
            )
            log.info(
                "mcp.started", agent=agent.name, server=name, tools=len(offered), from_settings=server.plan.credentials
            )
        return families

    async def _offered(
        self, agent: AgentDefinition, plan: ServerPlan, tools: list[types.Tool], note: Note
    ) -> list[types.Tool]:
        """The tools the grant allows, and of those the ones whose definition matches its pin."""
        allowed = [t for t in tools if plan.allowed is None or t.name in plan.allowed]
        left_out = len(tools) - len(allowed)
        if left_out and self._metrics is not None:
            self._metrics.refused.labels(server=plan.name, reason="not_granted").inc(left_out)
        if self._pins is None:
            return allowed
        hashes = {t.name: definition_hash(t.name, t.description or "", t.input_schema or {}) for t in allowed}
        try:
            checked = await self._pins.check(agent.name, plan.name, hashes)
        except BotburrowError as exc:
            note(f"MCP server {plan.name!r}: its tools are not offered, their pins cannot be read ({exc})")
            return []
        for tool in sorted(checked.changed):
            note(
                f"MCP tool {plan.name}/{tool} changed its definition since it was pinned: refused until "
                f"botburrow mcp approve {agent.name} {plan.name}"
            )
            log.warning("mcp.tool_changed", agent=agent.name, server=plan.name, tool=tool)
            if self._metrics is not None:
                self._metrics.refused.labels(server=plan.name, reason="changed").inc()
        return [t for t in allowed if t.name in checked.accepted]

    def _count_start(self, server: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.started.labels(server=server, outcome=outcome).inc()

    async def _stop(self, running: list[_Running]) -> None:
        for server in running:
            server.stop.set()
        tasks = [s.task for s in running if s.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=5.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ended(server: _Running) -> Callable[[], str | None]:
    return lambda: server.ended


class _Failed(Exception):
    """A server that did not come up, and why (for the transcript)."""


@asynccontextmanager
async def _http(url: str, headers: dict[str, str]) -> AsyncIterator[TransportStreams]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams


def _why(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"it did not answer within {timeout_s:g} s"
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _why(exc.exceptions[0], timeout_s)
    if isinstance(exc, FileNotFoundError):
        return f"its program is not installed ({exc.filename})"
    return f"{type(exc).__name__}: {exc}"[:300]

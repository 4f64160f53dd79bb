"""From an agent's ``capabilities.mcp_servers`` and grants to the servers one activation starts.

Each entry of ``mcp_servers`` is a built-in by name (``_catalog``), an operator's
streamable-HTTP server by name (``MCP_HTTP_SERVERS``), or a stdio server the agent
declares (``{name, command, args, env}``). Every server needs a grant of its service
(a declared or HTTP server named ``N``: a grant ``N:<anything>``); what the grants do
not allow, or a credential the runner does not hold, is not started, and the reason is
kept in ``Plan.notes`` (the transcript and the logs say it). Nothing here starts anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from shared.agents import Capabilities, McpServer
from shared.settings import McpSettings

from ._catalog import ALIASES, BUILTINS, IN_PROCESS, Builtin, permissions

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_NETWORK_GRANT = "network"


@dataclass(frozen=True, kw_only=True)
class ServerPlan:
    """One server to start for an activation.

    Attributes:
        name: its namespace in tool names (``mcp__<name>__<tool>``).
        transport: ``stdio`` (a process in a sandbox) or ``http`` (streamable HTTP).
        argv: the command line of a stdio server.
        env: what the process gets besides ``PATH`` and ``HOME``, its credential included.
        url: the endpoint of an HTTP server.
        headers: the HTTP headers it is sent (its ``Authorization``).
        allowed: the tools it may offer (``None``: all of them).
        network: whether its sandbox has the host's network.
        workspace: whether it sees the activation's MCP workspace.
        credentials: the names (never the values) of the settings its credential came from.
        prepare: commands run once in the MCP sandbox before it starts.
    """

    name: str
    transport: Literal["stdio", "http"]
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    allowed: frozenset[str] | None = None
    network: bool = False
    workspace: bool = False
    credentials: tuple[str, ...] = ()
    prepare: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What one activation starts: its servers, the names served in-process, and what was left out, why."""

    servers: list[ServerPlan] = field(default_factory=list)
    in_process: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_servers(capabilities: Capabilities, settings: McpSettings) -> Plan:
    """The servers ``capabilities`` ask for and its grants allow, with their credentials."""
    plan = Plan()
    http = _http_servers(settings, plan.notes)
    seen: set[str] = set()
    for entry in capabilities.mcp_servers:
        name = entry.name if isinstance(entry, McpServer) else ALIASES.get(entry, entry)
        if name in seen:
            plan.notes.append(f"MCP server {name!r} is listed twice: started once")
            continue
        seen.add(name)
        if isinstance(entry, McpServer):
            _declared(entry, capabilities, plan)
        elif name in IN_PROCESS:
            plan.in_process.append(name)
        elif name in BUILTINS:
            _builtin(BUILTINS[name], capabilities, settings, plan)
        elif name in http:
            _http(name, http[name], capabilities, plan)
        else:
            known = ", ".join(sorted({*BUILTINS, *ALIASES, *IN_PROCESS, *http}))
            plan.notes.append(f"MCP server {name!r} is neither a built-in nor declared (known: {known})")
    return plan


def _builtin(builtin: Builtin, capabilities: Capabilities, settings: McpSettings, plan: Plan) -> None:
    held = permissions(capabilities.grants, builtin.service, builtin.tools)
    if not held:
        wanted = " or ".join(f"{builtin.service}:{p}" for p in builtin.tools)
        plan.notes.append(f"MCP server {builtin.name!r} needs a grant ({wanted}); the agent holds none")
        return
    env: dict[str, str] = {}
    used: tuple[str, ...] = ()
    needed = [p for p in builtin.credential_order if p in held]
    if needed:
        variable, target = builtin.credentials[needed[0]]
        secret = settings.credentials.get(variable)
        if secret is None:
            plan.notes.append(
                f"MCP server {builtin.name!r} needs {variable} for {builtin.service}:{needed[0]}; the runner has none"
            )
            return
        env[target] = secret.reveal()
        used = (variable,)
    allowed: frozenset[str] | None = frozenset()
    for permission in held:
        tools = builtin.tools[permission]
        allowed = None if tools is None or allowed is None else allowed | tools
    plan.servers.append(
        ServerPlan(
            name=builtin.name,
            transport="stdio",
            argv=tuple(builtin.argv(settings.servers_dir)),
            env=env,
            allowed=allowed,
            network=builtin.network,
            workspace=builtin.workspace,
            credentials=used,
            prepare=builtin.prepare,
        )
    )


def _declared(server: McpServer, capabilities: Capabilities, plan: Plan) -> None:
    if not _NAME.fullmatch(server.name) or server.name in BUILTINS or server.name in IN_PROCESS:
        plan.notes.append(
            f"declared MCP server {server.name!r} needs a name of its own: lowercase letters, digits and -, "
            "not a built-in's"
        )
        return
    if not _holds(capabilities.grants, server.name):
        plan.notes.append(f"declared MCP server {server.name!r} needs a grant {server.name}:<permission>")
        return
    plan.servers.append(
        ServerPlan(
            name=server.name,
            transport="stdio",
            argv=(server.command, *server.args),
            env=dict(server.env),
            network=_holds(capabilities.grants, _NETWORK_GRANT),
            workspace=True,
        )
    )


def _http(name: str, spec: Mapping[str, Any], capabilities: Capabilities, plan: Plan) -> None:
    if not _holds(capabilities.grants, name):
        plan.notes.append(f"MCP server {name!r} needs a grant {name}:<permission>")
        return
    token = spec.get("token")
    plan.servers.append(
        ServerPlan(
            name=name,
            transport="http",
            url=str(spec["url"]),
            headers={"Authorization": f"Bearer {token}"} if token else {},
            network=True,
            credentials=("MCP_HTTP_SERVERS",) if token else (),
        )
    )


def _holds(grants: tuple[str, ...], service: str) -> bool:
    """Whether any grant names ``service`` (``service:<anything>``)."""
    return any(g.partition(":")[0] == service and g.partition(":")[2] for g in grants)


def _http_servers(settings: McpSettings, notes: list[str]) -> dict[str, Mapping[str, Any]]:
    """``MCP_HTTP_SERVERS``: ``{"name": {"url": "https://...", "token": "..."}}``; a bad one is noted, not used."""
    if settings.http_servers is None:
        return {}
    try:
        raw = orjson.loads(settings.http_servers.reveal())
    except orjson.JSONDecodeError:
        notes.append("MCP_HTTP_SERVERS is not a JSON object: no HTTP MCP server is available")
        return {}
    if not isinstance(raw, dict):
        notes.append("MCP_HTTP_SERVERS is not a JSON object: no HTTP MCP server is available")
        return {}
    servers: dict[str, Mapping[str, Any]] = {}
    for name, spec in raw.items():
        url = spec.get("url") if isinstance(spec, dict) else None
        if not _NAME.fullmatch(str(name)) or not isinstance(url, str) or not url.startswith(("http://", "https://")):
            notes.append(f"MCP_HTTP_SERVERS: {str(name)[:40]!r} needs a plain name and an http(s) url")
            continue
        servers[str(name)] = spec
    return servers

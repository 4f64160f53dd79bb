"""What an agent's grants change in its sandbox: whether it has a network, never what it holds.

A sandbox runs model-driven commands, so it sees none of the runner's environment and
no credential at all: a grant's credential reaches only the MCP server it starts
(``shared.mcp``). A grant of a service the sandboxed program must reach itself
(``NETWORK_SERVICES``, ``network:*`` among them: ``git clone`` from GitHub) gives the
sandbox a network; every other sandbox has loopback only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from shared.agents import AgentConfig

from ._types import SandboxSpec

NETWORK_SERVICES = frozenset({"network", "github", "brave"})
"""Grants of these services give the sandbox a network (``network:outbound`` asks for nothing else)."""


def services(grants: Iterable[str]) -> set[str]:
    """The services named by ``grants`` (``github:read`` → ``github``)."""
    return {g.split(":", 1)[0] for g in grants}


def has_network_grant(grants: Iterable[str]) -> bool:
    """Whether a grant asks for a network inside the sandbox."""
    return bool(services(grants) & NETWORK_SERVICES)


def spec_for(config: AgentConfig, base: SandboxSpec) -> SandboxSpec:
    """``base`` (the operator's policy) for one agent: its network and command limit."""
    grants = config.capabilities.grants
    return replace(
        base,
        network=has_network_grant(grants),
        timeout_s=float(config.capabilities.shell.timeout_seconds),
    )

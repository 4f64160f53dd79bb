"""What an agent's grants let into its sandbox: which credentials, and whether the network.

A sandbox sees none of the runner's environment. An agent's grants (``service:permission``)
let in the credentials of the services they name (``GRANT_CREDENTIALS``), and the network
when one of them is a service the sandboxed program must reach itself (``NETWORK_SERVICES``,
``network:*`` among them); every other sandbox has loopback only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from shared.agents import AgentConfig

from ._types import SandboxSpec

GRANT_CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "github": ("GITHUB_TOKEN",),
    "brave": ("BRAVE_API_KEY",),
}
"""Service of a grant → the environment variables it lets into the sandbox (when the runner has them)."""
NETWORK_SERVICES = frozenset({"network", "github", "brave"})
"""Grants of these services give the sandbox a network (``network:outbound`` asks for nothing else)."""


def services(grants: Iterable[str]) -> set[str]:
    """The services named by ``grants`` (``github:read`` → ``github``)."""
    return {g.split(":", 1)[0] for g in grants}


def granted_env(grants: Iterable[str], credentials: Mapping[str, str]) -> dict[str, str]:
    """The credentials ``grants`` allow, of those the runner holds (``credentials``)."""
    allowed = {name for service in services(grants) for name in GRANT_CREDENTIALS.get(service, ())}
    return {name: value for name, value in credentials.items() if name in allowed}


def has_network_grant(grants: Iterable[str]) -> bool:
    """Whether a grant asks for a network inside the sandbox."""
    return bool(services(grants) & NETWORK_SERVICES)


def spec_for(config: AgentConfig, base: SandboxSpec, credentials: Mapping[str, str]) -> SandboxSpec:
    """``base`` (the operator's policy) for one agent: its network, credentials and command limit."""
    grants = config.capabilities.grants
    return replace(
        base,
        network=has_network_grant(grants),
        env=granted_env(grants, credentials),
        timeout_s=float(config.capabilities.shell.timeout_seconds),
    )

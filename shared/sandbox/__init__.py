"""Sandboxes: where agents' commands and coding CLIs run, locked down.

One interface (``Sandbox``, ``Backend``) and two backends:

- ``DockerBackend`` (the default when an engine answers): one container per activation,
  network ``none`` unless the agent holds a network grant, read-only root, a
  size-limited tmpfs ``/workspace``, memory (no swap), CPU and pids limits, every
  capability dropped, no-new-privileges, the default seccomp profile, user 10001, no
  Docker socket; a wall-clock limit per command that kills the whole process tree.
- ``BwrapBackend`` (where no engine is reachable): bubblewrap's network, pid and mount
  namespaces, with rlimits for CPU, address space, processes and file size.

Commands are argv lists; files go in and out as tar archives; a command sees only
``BASE_ENV``: no credential, nothing of the runner's environment (a grant's credential
reaches only its MCP server). ``WarmPool`` keeps started sandboxes ready so an activation
acquires one in microseconds, and destroys each after its one activation.
``SandboxMetrics`` times starts, acquires and commands. ``AgentSandboxes`` gives an
activation its sandbox, shaped by the agent's grants; ``WorkspaceTools`` are the agent
loop's shell and file tools in it, paths confined to the workspace. The image is built by
``python -m shared.sandbox.image`` (``--offline`` where no registry is reachable);
``connect`` is the SDK's client of an engine, for whatever else runs there (MCP servers).
"""

from ._agents import AgentSandboxes
from ._bwrap import BwrapBackend, BwrapSandbox
from ._docker import DockerBackend, DockerSandbox, connect
from ._factory import base_spec, open_backend
from ._grants import NETWORK_SERVICES, has_network_grant, spec_for
from ._metrics import MeteredSandbox, SandboxMetrics
from ._oneshot import exec_once
from ._policy import PathRefused, check_command, confine
from ._pool import WarmPool
from ._types import (
    BASE_ENV,
    SANDBOX_UID,
    WORKSPACE,
    Backend,
    BackendName,
    ExecResult,
    Sandbox,
    SandboxError,
    SandboxFailed,
    SandboxSpec,
    SandboxUnavailable,
)
from ._workspace import WorkspaceTools

__all__ = [
    "BASE_ENV",
    "NETWORK_SERVICES",
    "SANDBOX_UID",
    "WORKSPACE",
    "AgentSandboxes",
    "Backend",
    "BackendName",
    "BwrapBackend",
    "BwrapSandbox",
    "DockerBackend",
    "DockerSandbox",
    "ExecResult",
    "MeteredSandbox",
    "PathRefused",
    "Sandbox",
    "SandboxError",
    "SandboxFailed",
    "SandboxMetrics",
    "SandboxSpec",
    "SandboxUnavailable",
    "WarmPool",
    "WorkspaceTools",
    "base_spec",
    "check_command",
    "confine",
    "connect",
    "exec_once",
    "has_network_grant",
    "open_backend",
    "spec_for",
]

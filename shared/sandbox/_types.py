"""The sandbox interface every backend implements, and what a command gives back.

A ``Sandbox`` is one locked-down environment with a writable workspace
(``WORKSPACE``); nothing else in it is writable but a small ``/tmp``. Commands are
argv lists, never shell strings, and run one at a time. Files go in and out as tar
archives. The environment a command sees is exactly ``SandboxSpec.env`` plus the
``env`` of that call: nothing of the runner's own.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shared.errors import BotburrowError, PermanentError, TransientError

WORKSPACE = "/workspace"
"""Where the workspace is mounted inside every sandbox, and where commands start."""
SANDBOX_UID = 10001
"""The unprivileged user commands run as."""
BASE_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKSPACE,
    "LANG": "C.UTF-8",
}
"""Set in every sandbox under the granted variables: enough for a shell to find its programs."""

BackendName = Literal["docker", "bwrap"]
Stream = Literal["stdout", "stderr"]
OnOutput = Callable[[Stream, bytes], None]
"""Called with each chunk of output as it arrives (for streaming to a terminal)."""


class SandboxError(BotburrowError):
    """Root of the sandbox's errors."""


class SandboxUnavailable(SandboxError, TransientError):
    """The backend cannot start a sandbox now: the engine is down, or the image is missing."""


class SandboxFailed(SandboxError, PermanentError):
    """The backend refused the request (an invalid spec, a path that does not exist...)."""


@dataclass(frozen=True, kw_only=True)
class SandboxSpec:
    """How a sandbox is built. The defaults are the default policy.

    Attributes:
        image: the container image (docker); ignored by bwrap, which uses the host's
            read-only ``/usr``, ``/bin`` and ``/lib``.
        network: ``False`` gives a loopback-only network namespace; ``True`` (only for
            an agent holding a network grant) the backend's default network.
        memory_mb: memory limit, swap included (no swap beyond it); bwrap: address space.
        cpus: CPU share (docker ``nano_cpus``); bwrap: CPU seconds per command are
            ``cpus * timeout_s``.
        pids: processes and threads at most.
        workspace_mb: size of the workspace (a tmpfs under docker; bwrap: largest file).
        timeout_s: default wall-clock limit per command; the whole process tree is
            killed when it passes.
        env: variables every command sees, on top of ``BASE_ENV`` (the agent's granted
            credentials: see ``granted_env``).
        max_output_bytes: output kept per stream per command; the rest is counted and
            dropped.
        mounts: ``(host path, sandbox path)`` pairs mounted read-only: a coding CLI's
            install, the gateway's socket (``shared.executors``). Sandbox paths are
            absolute and outside ``WORKSPACE``.
    """

    image: str = "botburrow-sandbox:latest"
    network: bool = False
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    workspace_mb: int = 64
    timeout_s: float = 120.0
    env: Mapping[str, str] = field(default_factory=dict)
    max_output_bytes: int = 1_000_000
    mounts: tuple[tuple[str, str], ...] = ()

    def shape(self) -> tuple[object, ...]:
        """What the sandbox is built with (image, network, limits); the rest applies per command.

        Sandboxes of one shape are interchangeable until ``Sandbox.bind`` gives one an
        agent's ``env``, ``timeout_s`` and ``max_output_bytes``.
        """
        return (self.image, self.network, self.memory_mb, self.cpus, self.pids, self.workspace_mb, self.mounts)

    def __post_init__(self) -> None:
        for name in ("memory_mb", "pids", "workspace_mb", "max_output_bytes"):
            if getattr(self, name) < 1:
                raise SandboxFailed(f"SandboxSpec.{name} must be at least 1, got {getattr(self, name)}")
        if self.cpus <= 0 or self.timeout_s <= 0:
            raise SandboxFailed("SandboxSpec.cpus and timeout_s must be positive")
        check_env(self.env)
        for host, dest in self.mounts:
            inside = posixpath.normpath(dest)
            if (
                not (host.startswith("/") and dest.startswith("/"))
                or inside in ("/", WORKSPACE)
                or (inside.startswith(WORKSPACE + "/"))
            ):
                raise SandboxFailed(f"SandboxSpec.mounts: {host!r} → {dest!r} must be absolute, outside {WORKSPACE}")


@dataclass(frozen=True)
class ExecResult:
    """What one command did.

    Attributes:
        exit_code: the command's exit status; ``128 + n`` when killed by signal ``n``
            (137 for a kill at the wall-clock limit or by the memory limit).
        stdout, stderr: output, at most ``max_output_bytes`` each.
        timed_out: the wall-clock limit passed and the process tree was killed.
        truncated: some output was dropped.
        duration_s: wall-clock time of the command.
    """

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the command exited 0 within its time."""
        return self.exit_code == 0 and not self.timed_out


def check_env(env: Mapping[str, str]) -> None:
    """Refuse variables no backend can set: an empty name, ``=`` in a name, NUL anywhere.

    Raises:
        SandboxFailed: naming the variables at fault (never their values).
    """
    bad = [k for k, v in env.items() if not k or "=" in k or "\0" in k or "\0" in v]
    if bad:
        raise SandboxFailed(f"invalid environment variables (name, or NUL in value): {bad}")


def checked_argv(argv: Sequence[str], timeout_s: float) -> list[str]:
    """``argv`` as a list, once it is a command any backend can run within a positive ``timeout_s``.

    Raises:
        SandboxFailed: argv is empty, holds something other than strings, or a NUL.
    """
    args = list(argv)
    if not args or not all(isinstance(a, str) for a in args):
        raise SandboxFailed("a command is a non-empty list of strings")
    if any("\0" in a for a in args):
        raise SandboxFailed("a command argument cannot hold a NUL character")
    if not timeout_s > 0:
        raise SandboxFailed(f"timeout_s must be positive, got {timeout_s}")
    return args


def rebind(current: SandboxSpec, spec: SandboxSpec) -> SandboxSpec:
    """``spec``, once it is of ``current``'s shape and its env can be set (``Sandbox.bind``)."""
    if spec.shape() != current.shape():
        raise SandboxFailed(f"cannot bind a spec of shape {spec.shape()} to a sandbox of shape {current.shape()}")
    check_env(spec.env)
    return spec


def command_env(spec_env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of one command: ``BASE_ENV``, then the spec's, then the call's."""
    return {**BASE_ENV, **spec_env, **(extra or {})}


class Sandbox(Protocol):
    """One started sandbox. Not shared between activations; ``close`` destroys it."""

    @property
    def id(self) -> str:
        """The backend's name for it (a container id, a bwrap workspace path)."""
        ...

    @property
    def backend(self) -> BackendName:
        """``docker`` or ``bwrap``."""
        ...

    def bind(self, spec: SandboxSpec) -> None:
        """Take ``spec``'s per-command parts for the commands to come.

        Those are ``env``, ``timeout_s`` and ``max_output_bytes``: a warm pool binds an
        agent's here.

        Raises:
            SandboxFailed: ``spec`` is of another shape (``SandboxSpec.shape``).
        """
        ...

    async def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str = WORKSPACE,
        stdin: bytes | None = None,
        on_output: OnOutput | None = None,
    ) -> ExecResult:
        """Run ``argv`` (never through a shell unless argv names one) and wait for it.

        ``timeout_s`` defaults to the spec's; when it passes, every process the command
        left in the sandbox is killed and ``timed_out`` is set. ``env`` adds to the
        spec's environment for this command only.

        Raises:
            SandboxFailed: argv is empty, or the sandbox is closed.
            SandboxUnavailable: the backend stopped answering.
        """
        ...

    async def put_archive(self, dest: str, data: bytes) -> None:
        """Extract the tar archive ``data`` into the directory ``dest`` (inside the workspace)."""
        ...

    async def get_archive(self, path: str) -> bytes:
        """``path`` (a file or directory inside the sandbox) as a tar archive."""
        ...

    async def close(self) -> None:
        """Kill everything in it and delete it, workspace included. Idempotent."""
        ...


class Backend(Protocol):
    """Starts sandboxes of one kind."""

    @property
    def name(self) -> BackendName:
        """``docker`` or ``bwrap``."""
        ...

    async def start(self, spec: SandboxSpec) -> Sandbox:
        """A fresh sandbox built to ``spec`` (a cold start).

        Raises:
            SandboxUnavailable: the engine is down or the image is missing.
        """
        ...

    async def aclose(self) -> None:
        """Release the backend's own resources (clients); sandboxes are closed by their owners."""
        ...

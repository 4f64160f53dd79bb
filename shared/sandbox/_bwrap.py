"""The bubblewrap backend: every command in fresh namespaces over the host's read-only ``/usr``.

For runners without a Docker engine, and for fast local runs. There is no long-lived
process: ``start`` makes a host workspace, and each ``exec`` spawns its own ``bwrap`` with
every namespace unshared (the network too unless ``SandboxSpec.network``), no capabilities,
no further user namespaces, and a new session (no ``TIOCSTI`` into the runner's terminal).
Its filesystem is a read-only root holding:

- the host's ``/usr``, read-only, with ``/bin``, ``/lib``, ``/lib64``, ``/sbin`` as the
  host has them (merged-usr symlinks, or read-only binds of real directories);
- in ``/etc``, only a generated ``passwd`` and ``group`` (the sandbox user and ``nobody``),
  the host's ``ld.so.cache`` and ``alternatives`` (Debian's symlinks behind ``awk``,
  ``vi``...), and with the network also ``resolv.conf``, ``hosts``, ``nsswitch.conf`` and
  ``ssl/certs`` (public CA certificates). Nothing else of the host's ``/etc``: it holds
  secrets and configuration;
- a fresh ``/proc`` (of the sandbox's own pid namespace), ``/dev`` and ``/tmp`` (a tmpfs of
  ``workspace_mb``), and the workspace read-write on ``WORKSPACE``.

No ``/run``, ``/var``, home directory or Docker socket. The command's environment is exactly
``command_env``; bwrap itself gets an empty one, and its options (the variables included) go
through a memfd (``--args``), so they are not on any command line the host can read.

bwrap has no resource limits. They are set by util-linux ``prlimit`` run inside the sandbox
in front of the command: address space (``memory_mb``), CPU seconds (``cpus`` times the
command's timeout), largest file (``workspace_mb``), no core files, and processes and
threads (``pids``). Set there, after bwrap made the user namespace, ``RLIMIT_NPROC`` counts
the processes of this sandbox only: the kernel counts it per user namespace and uid. Where
no ``prlimit`` is under ``/usr`` or ``/bin``, the limits are set on bwrap itself
(``preexec_fn``), and ``RLIMIT_NPROC`` then counts every process of that uid on the host:
all the sandboxes of a runner share it, and a busy runner's user may not start one at all.

Run as root (CI, containers), bwrap runs as ``SANDBOX_UID``; otherwise as the runner's own
user (mapped to itself in the sandbox). When the wall-clock limit passes, the sandbox's init
(bwrap's pid 1, found through ``--info-fd``) is killed, which kills every process of its pid
namespace, ``setsid`` ones included; bwrap's process group is killed after it.

Not limited here, unlike docker: the workspace's total size (only its largest file), the
memory of a process beyond its address space, CPU share. With the network granted, the
sandbox shares the host's network namespace: its loopback services and abstract sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import os
import posixpath
import resource
import shutil
import signal
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from ._output import Collector
from ._types import (
    SANDBOX_UID,
    WORKSPACE,
    BackendName,
    ExecResult,
    OnOutput,
    SandboxFailed,
    SandboxSpec,
    SandboxUnavailable,
    Stream,
    check_env,
    checked_argv,
    command_env,
    rebind,
)

log = structlog.get_logger(__name__)

_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Besides ``/usr``: symlinks into it (merged-usr) are recreated, real directories bound read-only."""
_ETC = ("/etc/ld.so.cache", "/etc/alternatives")
"""Host ``/etc`` entries every sandbox gets, read-only: nothing secret, nothing host-specific."""
_ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs")
"""Added with the network: name resolution and public CA certificates."""
_PRLIMIT = ("/usr/bin/prlimit", "/bin/prlimit", "/usr/sbin/prlimit", "/sbin/prlimit")
"""Where ``prlimit`` may be; each is visible at the same path inside the sandbox."""
_HOSTNAME = "sandbox"
_CHUNK = 65536
_KILL_GRACE_S = 2.0
"""After killing the sandbox's init: how long bwrap has to exit before its group is killed."""
_DRAIN_S = 2.0
"""After a kill: how long the output pipes have to reach their end."""
_PROBE_TIMEOUT_S = 20.0
_SPAWN_LINE_LIMIT = 16 * 1024 * 1024
"""The longest line a spawned process's pipes are read in (an MCP message is one line)."""


@dataclass(frozen=True)
class _Host:
    """What the host offers, found once per backend."""

    bwrap: str
    prlimit: str | None
    features: frozenset[str]
    system: tuple[str, ...]


class BwrapBackend:
    """Starts bubblewrap sandboxes; each command is its own ``bwrap`` process."""

    def __init__(self, *, bwrap: str | None = None, root: Path | None = None) -> None:
        """``bwrap``: the binary (default: the one on ``PATH``); ``root``: where workspaces are made.

        Run as root, every directory above ``root`` must be searchable by ``SANDBOX_UID``.
        """
        self._bwrap = bwrap if bwrap is not None else shutil.which("bwrap")
        self._root = Path(root) if root is not None else Path(tempfile.gettempdir())
        self._as_root = os.geteuid() == 0
        self._host: _Host | None = None
        self._verified = False
        self._probe_lock = asyncio.Lock()

    @property
    def name(self) -> BackendName:
        """``bwrap``."""
        return "bwrap"

    def available(self) -> bool:
        """Whether the bwrap binary is there and executable (not whether namespaces are allowed)."""
        return self._bwrap is not None and os.access(self._bwrap, os.X_OK)

    async def start(self, spec: SandboxSpec) -> BwrapSandbox:
        """A fresh workspace under ``root``; the first one of a backend is checked with ``true``.

        Raises:
            SandboxUnavailable: bwrap is missing, or cannot make a sandbox on this host
                (user namespaces disabled, ``root`` not searchable by the sandbox user...).
        """
        host = await self._probe()
        try:
            top = Path(tempfile.mkdtemp(prefix="botburrow-bwrap-", dir=self._root))
        except OSError as exc:
            raise SandboxUnavailable(f"cannot create a workspace under {self._root}: {exc}") from exc
        try:
            uid, gid = (SANDBOX_UID, SANDBOX_UID) if self._as_root else (os.getuid(), os.getgid())
            workspace = top / "workspace"
            workspace.mkdir(mode=0o700)
            if self._as_root:
                top.chmod(0o711)  # the sandbox user passes through, but cannot list or change it
                os.chown(workspace, SANDBOX_UID, SANDBOX_UID)
            (top / "passwd").write_text(
                f"sandbox:x:{uid}:{gid}:sandbox:{WORKSPACE}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            )
            (top / "group").write_text(f"sandbox:x:{gid}:\nnogroup:x:65534:\n")
            for name in ("passwd", "group"):
                (top / name).chmod(0o644)
        except OSError as exc:
            shutil.rmtree(top, ignore_errors=True)
            raise SandboxUnavailable(f"cannot prepare a workspace in {top}: {exc}") from exc
        sandbox = BwrapSandbox(spec, host=host, top=top, run_as=SANDBOX_UID if self._as_root else None)
        if not self._verified:
            result = await sandbox.exec(["true"], timeout_s=_PROBE_TIMEOUT_S)
            if not result.ok:
                await sandbox.close()
                detail = result.stderr.decode(errors="replace").strip() or f"exit {result.exit_code}"
                raise SandboxUnavailable(f"bwrap cannot start a sandbox on this host: {detail}")
            self._verified = True
        log.debug("sandbox.started", backend="bwrap", id=sandbox.id, network=spec.network)
        return sandbox

    async def aclose(self) -> None:
        """Nothing to release: sandboxes are closed by their owners."""

    async def _probe(self) -> _Host:
        """The host's bwrap, its options, ``prlimit`` and system directories, found once."""
        async with self._probe_lock:
            if self._host is not None:
                return self._host
            if self._bwrap is None:
                raise SandboxUnavailable("bubblewrap (bwrap) is not installed: no bwrap on PATH")
            if not self.available():
                raise SandboxUnavailable(f"bubblewrap is not executable: {self._bwrap}")
            try:
                proc = await asyncio.create_subprocess_exec(
                    self._bwrap,
                    "--help",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env={},
                )
            except OSError as exc:
                raise SandboxUnavailable(f"cannot run {self._bwrap}: {exc}") from exc
            try:
                out, err = await asyncio.wait_for(proc.communicate(), _PROBE_TIMEOUT_S)
            except TimeoutError as exc:
                proc.kill()
                await proc.wait()
                raise SandboxUnavailable(f"{self._bwrap} --help did not answer in {_PROBE_TIMEOUT_S:.0f} s") from exc
            text = (out + err).decode(errors="replace")
            if "--args" not in text or "--info-fd" not in text:
                raise SandboxUnavailable(f"{self._bwrap} is too old: it lacks --args or --info-fd")
            features = frozenset(f for f in ("--cap-drop", "--disable-userns", "--size") if f in text)
            prlimit = next((p for p in _PRLIMIT if os.access(p, os.X_OK)), None)
            if prlimit is None:
                log.warning("sandbox.no_prlimit", detail="limits set on bwrap; RLIMIT_NPROC counts the whole uid")
            self._host = _Host(self._bwrap, prlimit, features, _system_mounts())
            return self._host


class BwrapSandbox:
    """One workspace, and the ``bwrap`` of the command running in it (one at a time)."""

    def __init__(self, spec: SandboxSpec, *, host: _Host, top: Path, run_as: int | None) -> None:
        """Made by ``BwrapBackend.start``: ``top`` holds ``workspace``, ``passwd`` and ``group``.

        ``run_as`` is the uid (and gid) bwrap drops root to, None to run as this process.
        """
        self._spec = spec
        self._host = host
        self._top = top
        self._workspace = str(top / "workspace")
        self._run_as = run_as
        self._chown = run_as is not None
        self._env: Mapping[str, str] = dict(spec.env)
        self._lock = asyncio.Lock()
        self._closed = False
        self._deleted = False
        self._running: _Running | None = None
        self._spawned: list[asyncio.subprocess.Process] = []

    @property
    def id(self) -> str:
        """The workspace's path on the host."""
        return self._workspace

    @property
    def backend(self) -> BackendName:
        """``bwrap``."""
        return "bwrap"

    def bind(self, spec: SandboxSpec) -> None:
        self._spec = rebind(self._spec, spec)
        self._env = dict(spec.env)

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
        """Run ``argv`` in a new ``bwrap`` and wait for it; see ``Sandbox.exec``.

        ``cwd`` is a sandbox path (relative ones are under ``WORKSPACE``). A command bwrap cannot set up (a ``cwd`` that
        does not exist) exits 1 with bwrap's message on stderr; one that is not found, 127.

        Raises:
            SandboxFailed: argv is empty or holds a NUL, a bad ``env`` or ``timeout_s``, or
                the sandbox is closed.
            SandboxUnavailable: bwrap could not be run.
        """
        limit_s = self._spec.timeout_s if timeout_s is None else timeout_s
        args = checked_argv(argv, limit_s)
        if "\0" in cwd:
            raise SandboxFailed("cwd cannot hold a NUL character")
        check_env(env or {})
        environ = command_env(self._env, env)
        self._check_open()
        async with self._lock:
            self._check_open()
            result = await self._run(args, limit_s, environ, posixpath.join(WORKSPACE, cwd), stdin, on_output)
        log.debug(
            "sandbox.exec",
            backend="bwrap",
            command=args[0],
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_s=round(result.duration_s, 3),
        )
        return result

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        lifetime_s: float,
        env: Mapping[str, str] | None = None,
        binds: Sequence[str] = (),
        network: bool = False,
        workspace: bool = True,
    ) -> asyncio.subprocess.Process:
        """Start ``argv`` in this sandbox and leave it running, talking over its pipes (an MCP server).

        The same namespaces, filesystem and limits as ``exec`` (CPU seconds for ``lifetime_s``),
        and ``binds``: host directories shown read-only at the same path (the server's code).
        ``network`` shares the host's network (otherwise loopback only); without ``workspace``
        it gets an empty ``WORKSPACE`` of its own instead of the sandbox's.
        Its environment is exactly the sandbox's and ``env``; nothing of the runner's. It is
        killed by ``close`` (or with the runner: bwrap's ``--die-with-parent``).

        Raises:
            SandboxFailed: a bad argv, ``env`` or bind, or the sandbox is closed.
            SandboxUnavailable: bwrap could not be run.
        """
        args = checked_argv(argv, lifetime_s)
        check_env(env or {})
        bad = [b for b in binds if not b.startswith("/") or "\0" in b or not os.path.isdir(b)]
        if bad:
            raise SandboxFailed(f"cannot show {bad[0]!r} in the sandbox: not an existing absolute directory")
        self._check_open()
        host = self._host
        command, preexec = _limited(host, self._spec, args, lifetime_s, self._run_as)
        options = _options_fd(
            self._options(command_env(self._env, env), WORKSPACE, binds, network=network, workspace=workspace)
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                host.bwrap,
                "--args",
                str(options),
                "--",
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={},
                start_new_session=True,
                pass_fds=(options,),
                preexec_fn=preexec,
                limit=_SPAWN_LINE_LIMIT,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot run {host.bwrap}: {exc}") from exc
        finally:
            os.close(options)
        self._spawned.append(proc)
        log.debug("sandbox.spawned", backend="bwrap", id=self.id, command=args[0], pid=proc.pid)
        return proc

    async def put_archive(self, dest: str, data: bytes) -> None:
        """Extract the tar archive ``data`` into the existing directory ``dest``.

        Members are checked before anything is written (tarfile's ``data`` filter: no
        absolute names, ``..``, links leading out, device files); as root, what was extracted
        is then given to ``SANDBOX_UID``.

        Raises:
            SandboxFailed: ``dest`` is not a directory inside the workspace, or a member is
                refused, or the archive does not read.
        """
        async with self._lock:
            self._check_open()
            host_dest = self._resolve(dest)
            await asyncio.to_thread(self._extract, dest, host_dest, data)

    async def get_archive(self, path: str) -> bytes:
        """``path`` as a tar archive whose one top entry is named after it; links are not followed.

        Raises:
            SandboxFailed: ``path`` does not exist, or resolves outside the workspace.
        """
        async with self._lock:
            self._check_open()
            host_path = self._resolve(path)
            if not os.path.lexists(host_path):
                raise SandboxFailed(f"{path} does not exist in the sandbox")
            name = posixpath.basename(_sandbox_path(path)) or "workspace"
            try:
                return await asyncio.to_thread(_pack, host_path, name)
            except OSError as exc:
                raise SandboxFailed(f"cannot archive {path}: {exc}") from exc

    async def close(self) -> None:
        """Kill the running command, if any, and delete the workspace. Idempotent."""
        self._closed = True
        running = self._running
        if running is not None:
            await running.kill()
        for proc in self._spawned:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        self._spawned.clear()
        async with self._lock:
            if self._deleted:
                return
            await asyncio.to_thread(_remove, self._top)
            self._deleted = True
        log.debug("sandbox.closed", backend="bwrap", id=self.id)

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxFailed(f"sandbox {self.id} is closed")

    async def _run(
        self,
        argv: list[str],
        limit_s: float,
        environ: Mapping[str, str],
        cwd: str,
        stdin: bytes | None,
        on_output: OnOutput | None,
    ) -> ExecResult:
        """Spawn bwrap, stream its output, and kill it all when ``limit_s`` passes."""
        host = self._host
        command, preexec = _limited(host, self._spec, argv, limit_s, self._run_as)
        started = time.monotonic()
        options = _options_fd(self._options(environ, cwd))
        info_r, info_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                host.bwrap,
                "--args",
                str(options),
                "--info-fd",
                str(info_w),
                "--",
                *command,
                stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={},
                start_new_session=True,
                pass_fds=(options, info_w),
                preexec_fn=preexec,
            )
        except OSError as exc:
            os.close(info_r)
            raise SandboxUnavailable(f"cannot run {host.bwrap}: {exc}") from exc
        finally:
            os.close(options)
            os.close(info_w)
        assert proc.stdout is not None and proc.stderr is not None
        info = os.fdopen(info_r, "rb", buffering=0)
        running = _Running(proc, info, asyncio.ensure_future(_child_pidfd(info, proc.pid)))
        self._running = running
        output = Collector(self._spec.max_output_bytes, on_output)
        parts = [_pump(proc.stdout, "stdout", output), _pump(proc.stderr, "stderr", output), proc.wait()]
        if stdin is not None:
            assert proc.stdin is not None
            parts.append(_feed(proc.stdin, stdin))
        everything = asyncio.gather(*parts)
        timed_out = False
        try:
            done, _ = await asyncio.wait({everything}, timeout=limit_s)
            if not done:
                timed_out = True
                await running.kill()
                done, _ = await asyncio.wait({everything}, timeout=_DRAIN_S)
                if not done:
                    log.warning("sandbox.output_not_closed", backend="bwrap", id=self.id)
            if done:
                everything.result()
        finally:
            if not everything.done():
                everything.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await everything
            if proc.returncode is None:  # cancelled, or the pipes never closed
                await asyncio.shield(running.kill())
            running.release()
            self._running = None
        code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        return ExecResult(
            exit_code=137 if timed_out else (128 - code if code < 0 else code),
            stdout=output.stdout(),
            stderr=output.stderr(),
            timed_out=timed_out,
            truncated=output.truncated,
            duration_s=time.monotonic() - started,
        )

    def _options(
        self,
        environ: Mapping[str, str],
        cwd: str,
        binds: Sequence[str] = (),
        *,
        network: bool | None = None,
        workspace: bool = True,
    ) -> list[str]:
        """The options of one command's bwrap (passed through ``--args``, never on a command line)."""
        spec, host = self._spec, self._host
        networked = spec.network if network is None else network
        opts = ["--unshare-all", "--die-with-parent", "--new-session", "--hostname", _HOSTNAME]
        if networked:
            opts.append("--share-net")
        if "--disable-userns" in host.features:
            opts += ["--unshare-user", "--disable-userns"]
        if "--cap-drop" in host.features:
            opts += ["--cap-drop", "ALL"]
        opts += ["--ro-bind", "/usr", "/usr", *host.system, "--proc", "/proc", "--dev", "/dev"]
        if "--size" in host.features:
            opts += ["--size", str(spec.workspace_mb * 1024 * 1024)]
        opts += ["--tmpfs", "/tmp"]
        opts += ["--ro-bind", str(self._top / "passwd"), "/etc/passwd"]
        opts += ["--ro-bind", str(self._top / "group"), "/etc/group"]
        for path in (*_ETC, *(_ETC_NETWORK if networked else ())):
            if os.path.exists(path):
                opts += ["--ro-bind-try", path, path]
        for path in binds:
            opts += ["--ro-bind", path, path]
        for host_path, path in spec.mounts:
            opts += ["--ro-bind", host_path, path]
        opts += ["--bind", self._workspace, WORKSPACE] if workspace else ["--tmpfs", WORKSPACE]
        opts += ["--remount-ro", "/", "--chdir", cwd, "--clearenv"]
        for key, value in environ.items():
            opts += ["--setenv", key, value]
        return opts

    def _resolve(self, path: str) -> str:
        """The host path of the sandbox ``path``, refused unless it resolves inside the workspace."""
        full = _sandbox_path(path)
        if full != WORKSPACE and not full.startswith(WORKSPACE + "/"):
            raise SandboxFailed(f"{path!r} is outside {WORKSPACE}")
        rel = full[len(WORKSPACE) :].lstrip("/")
        root = os.path.realpath(self._workspace)
        real = os.path.realpath(os.path.join(root, rel))
        if real != root and not real.startswith(root + os.sep):
            raise SandboxFailed(f"{path!r} resolves outside {WORKSPACE} (through a link)")
        return real

    def _extract(self, dest: str, host_dest: str, data: bytes) -> None:
        """Check every member, then extract them all; as root, chown what was written."""
        if not os.path.isdir(host_dest):
            raise SandboxFailed(f"{dest} is not a directory in the sandbox")
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                names = []
                for member in tar.getmembers():
                    try:
                        names.append(tarfile.data_filter(member, host_dest).name)
                    except tarfile.FilterError as exc:
                        raise SandboxFailed(f"archive member {member.name!r} refused: {exc}") from exc
                tar.extractall(host_dest, filter="data")
        except tarfile.TarError as exc:
            raise SandboxFailed(f"cannot extract the archive into {dest}: {exc}") from exc
        except OSError as exc:
            raise SandboxFailed(f"cannot extract the archive into {dest}: {exc}") from exc
        if self._chown:
            _chown_tree(host_dest, names)


class _Running:
    """The ``bwrap`` of the running command, and how to kill everything it holds."""

    def __init__(self, proc: asyncio.subprocess.Process, info: io.FileIO, pidfd: asyncio.Future[int | None]) -> None:
        self.proc = proc
        self._info = info
        self._pidfd = pidfd

    async def kill(self) -> None:
        """Kill the sandbox's init (its whole pid namespace goes), then bwrap's process group.

        Killing the init first lets bwrap outlive it and reap it, so that when bwrap has
        exited no process of the sandbox is left.
        """
        proc = self.proc
        pidfd = self._pidfd.result() if self._pidfd.done() and not self._pidfd.cancelled() else None
        if pidfd is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _KILL_GRACE_S)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    def release(self) -> None:
        """Close the init's pidfd and bwrap's info pipe."""
        if not self._pidfd.done():
            self._pidfd.cancel()
            self._pidfd.add_done_callback(lambda _: self._info.close())
            return
        self._info.close()
        if not self._pidfd.cancelled() and self._pidfd.exception() is None:
            fd = self._pidfd.result()
            if fd is not None:
                os.close(fd)


async def _pump(reader: asyncio.StreamReader, stream: Stream, output: Collector) -> None:
    """Read one of the command's streams to its end."""
    while chunk := await reader.read(_CHUNK):
        output.add(stream, chunk)


async def _feed(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write ``data`` to the command's stdin and close it; a command that stops reading is fine."""
    try:
        writer.write(data)
        await writer.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        writer.close()


async def _child_pidfd(info: io.FileIO, bwrap_pid: int) -> int | None:
    """A pidfd of the sandbox's init, read from bwrap's ``--info-fd`` (``None`` if it never says)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), info)
    try:
        text = await reader.read()
    finally:
        transport.close()
    try:
        pid = int(json.loads(text)["child-pid"])
        pidfd = os.pidfd_open(pid)
    except (ValueError, KeyError, TypeError, OSError):
        return None
    try:  # the pidfd pins the process: check that it is bwrap's child, not a reused pid
        with open(f"/proc/{pid}/status") as status:
            ppid = next((line.split()[1] for line in status if line.startswith("PPid:")), "")
    except OSError:
        ppid = ""
    if ppid != str(bwrap_pid):
        os.close(pidfd)
        return None
    return pidfd


def _limited(
    host: _Host, spec: SandboxSpec, argv: Sequence[str], limit_s: float, run_as: int | None
) -> tuple[list[str], Callable[[], None] | None]:
    """``argv`` behind ``prlimit``, and what bwrap's child does before it runs.

    Without ``prlimit`` in the sandbox, ``argv`` runs as it is and the limits are set on
    bwrap instead (in that child step), as is the drop from root to ``run_as``.
    Root is dropped in ``preexec_fn`` rather than with ``user=``/``group=``: the runner's
    event loop is uvloop, whose ``subprocess_exec`` refuses those arguments.
    """
    limits = _limits(spec, limit_s)
    setup = [_drop_root(run_as)] if run_as is not None else []
    if host.prlimit is not None:
        command = [host.prlimit, *(f"--{name}={value}" for name, value in limits), "--", *argv]
    else:
        command = list(argv)
        setup.insert(0, _setrlimits(limits))
    if not setup:
        return command, None

    def prepare() -> None:
        for step in setup:
            step()

    return command, prepare


def _drop_root(uid: int) -> Callable[[], None]:
    """In the child, before it runs bwrap: no supplementary groups, then ``uid`` as group and user."""

    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return drop


def _options_fd(options: Sequence[str]) -> int:
    """Bwrap's options as NUL-separated words in a memfd (``--args FD``)."""
    return _memfd(b"".join(o.encode() + b"\0" for o in options))


def _limits(spec: SandboxSpec, timeout_s: float) -> list[tuple[str, int]]:
    """``prlimit`` resource names and values for one command."""
    mib = 1024 * 1024
    return [
        ("cpu", max(1, math.ceil(spec.cpus * timeout_s))),
        ("as", spec.memory_mb * mib),
        ("nproc", spec.pids),
        ("fsize", spec.workspace_mb * mib),
        ("core", 0),
    ]


def _setrlimits(limits: list[tuple[str, int]]) -> Callable[[], None]:
    """The fallback without ``prlimit``: set the limits in the child before it runs bwrap."""
    pairs = [(getattr(resource, f"RLIMIT_{name.upper()}"), value) for name, value in limits]

    def apply() -> None:
        for which, value in pairs:
            resource.setrlimit(which, (value, value))

    return apply


def _system_mounts() -> tuple[str, ...]:
    """The bwrap options for the host's ``/bin``, ``/lib``...: symlinks as they are, directories read-only."""
    opts: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            opts += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            opts += ["--ro-bind", path, path]
    return tuple(opts)


def _sandbox_path(path: str) -> str:
    """``path`` made absolute (relative to ``WORKSPACE``) and normalised, as the sandbox sees it."""
    if "\0" in path:
        raise SandboxFailed("a path cannot hold NUL characters")
    full = posixpath.normpath(posixpath.join(WORKSPACE, path))
    return "/" + full.lstrip("/")


def _memfd(data: bytes) -> int:
    """An anonymous file holding ``data``, at offset 0."""
    fd = os.memfd_create("bwrap-args", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(data)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _pack(host_path: str, name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(host_path, arcname=name)
    return buf.getvalue()


def _chown_tree(host_dest: str, names: list[str]) -> None:
    """Give the extracted members, and the directories made for them, to ``SANDBOX_UID``."""
    paths: set[str] = set()
    for name in names:
        parts = [p for p in name.split("/") if p and p != "."]
        for i in range(1, len(parts) + 1):
            paths.add(os.path.join(host_dest, *parts[:i]))
    for path in sorted(paths):
        with contextlib.suppress(FileNotFoundError):
            os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


def _remove(top: Path) -> None:
    """Delete a sandbox's directory, even where the sandbox took its own permissions away."""
    try:
        shutil.rmtree(top)
    except FileNotFoundError:
        return
    except PermissionError:
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                path = os.path.join(dirpath, d)
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
        shutil.rmtree(top, ignore_errors=True)

r"""The Docker backend: one hardened container per activation, through the ``docker`` SDK.

Every container is built the same way, whatever the image::

    network none (bridge only with a network grant)   read-only root filesystem
    /workspace: tmpfs, size-limited, exec allowed       /tmp: small tmpfs
    memory = memory+swap (no swap)   nano_cpus   pids limit   core dumps off
    cap_drop ALL   no-new-privileges   default seccomp   user 10001:10001
    no volumes, no Docker socket, no variable of the runner's

The engine's init (``docker-init``, tini) is PID 1: it reaps every orphan, so the
zombies of killed commands never hold on to the pids limit. Its child is a small
shell (``_INIT``) that waits on its open stdin without forking and, on ``SIGUSR1``
(forwarded by tini), kills every other process in the container with the ``kill``
builtin. That is how a command's whole tree is killed at its wall-clock limit, even a
fork bomb that has spent the pids limit (a signal sent by the engine needs no new
process), and even children that left the command's session. Commands run one at a
time, so nothing else is lost.

Commands are ``exec``\\ s with an argv and an explicit environment. Files go in and out
as tar archives through ``tar`` in the container: the engine's own archive endpoints
cannot reach a tmpfs, and refuse a read-only root.

The SDK is synchronous; calls run in threads, and each command's output is read by a
thread of the backend's own pool, so long commands never starve the default executor.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import structlog
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Ulimit
from docker.utils.socket import STDERR, STDOUT, frames_iter

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
    check_env,
    checked_argv,
    command_env,
    rebind,
)

log = structlog.get_logger(__name__)

LABEL = "dev.botburrow.sandbox"
"""Set on every sandbox container (its value is the backend's owner tag), for cleanup."""
HOST_LABEL = f"{LABEL}.host"
PROCESS_LABEL = f"{LABEL}.process"
"""The host name and the process (pid and start time) that made a container: a runner
SIGKILLed leaves its containers behind, and the next backend on that host removes them."""
TMP_MB = 16
KILLED = 137  # 128 + SIGKILL
_INIT = "trap 'kill -KILL -1' USR1; trap 'exit 0' TERM; while :; do read -r -t 3600 _; done"
_KILL_GRACE_S = 10.0  # how long a killed command's stream may take to close
_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"


def connect(base_url: str) -> docker.DockerClient:
    """The SDK's client of the engine at ``base_url`` (no call is made yet).

    Raises:
        SandboxUnavailable: the engine's unix socket does not exist, or the address is not one.
    """
    if base_url.startswith("unix://") and not os.path.exists(base_url[len("unix://") :]):
        # Checked first: the SDK leaks the socket of a failed connect to a missing path.
        raise SandboxUnavailable(f"no Docker engine at {base_url}: the socket does not exist")
    try:
        return docker.DockerClient(base_url=base_url, timeout=30)
    except DockerException as exc:
        raise SandboxUnavailable(f"no Docker engine at {base_url}: {exc}") from exc


class DockerBackend:
    """Starts sandbox containers on one Docker engine.

    ``base_url`` is the engine's address (``unix:///var/run/docker.sock``,
    ``tcp://...``); ``None`` takes the SDK's default socket. The settings object
    passes ``DOCKER_HOST`` here; nothing else is read from the environment.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        owner: str = "botburrow",
        max_commands: int = 32,
        process: str | None = None,
    ) -> None:
        """``process`` names the process the containers belong to (default: this one's ``process_tag``)."""
        self._base_url = base_url or "unix:///var/run/docker.sock"
        self._owner = owner
        self._process = process or process_tag()
        self._hostname = socket.gethostname()
        self._reaped = False
        self._client: docker.DockerClient | None = None
        self._readers = ThreadPoolExecutor(max_workers=max_commands, thread_name_prefix="sandbox-exec")

    @property
    def name(self) -> BackendName:
        return "docker"

    def _api(self) -> Any:
        if self._client is None:
            self._client = connect(self._base_url)
        return self._client.api

    def close(self) -> None:
        """Close the SDK client (its connection pool); the backend reconnects if used again."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def available(self) -> bool:
        """Whether the engine answers a ping (a blocking call of a few milliseconds)."""
        try:
            return bool(self._api().ping())
        except (SandboxUnavailable, DockerException, OSError):
            return False

    def has_image(self, image: str) -> bool:
        """Whether ``image`` is present on the engine."""
        try:
            self._api().inspect_image(image)
        except ImageNotFound:
            return False
        except (DockerException, OSError) as exc:
            raise SandboxUnavailable(f"the Docker engine at {self._base_url} did not answer: {exc}") from exc
        return True

    async def start(self, spec: SandboxSpec) -> DockerSandbox:
        """Create and start one container built to ``spec`` (about 0.2 s here).

        The first start first removes the orphans on this host (``reap_orphans``).
        """
        if not self._reaped:
            self._reaped = True
            removed = await asyncio.to_thread(self.reap_orphans)
            if removed:
                log.info("sandbox.reaped_orphans", backend="docker", containers=removed)
        cid = await asyncio.to_thread(self._create, spec)
        log.debug("sandbox.started", backend="docker", container=cid[:12], image=spec.image)
        return DockerSandbox(self, cid, spec)

    def _create(self, spec: SandboxSpec) -> str:
        api = self._api()
        config = api.create_host_config(
            network_mode="bridge" if spec.network else "none",
            read_only=True,
            tmpfs={
                WORKSPACE: (
                    f"rw,exec,nosuid,nodev,size={spec.workspace_mb}m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700"
                ),
                "/tmp": f"rw,noexec,nosuid,nodev,size={TMP_MB}m,mode=1777",
            },
            binds=[f"{host}:{path}:ro" for host, path in spec.mounts],
            mem_limit=spec.memory_mb * 1024 * 1024,
            memswap_limit=spec.memory_mb * 1024 * 1024,
            nano_cpus=int(spec.cpus * 1e9),
            pids_limit=spec.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            ipc_mode="private",
            init=True,
        )
        try:
            created = self._create_container(api, spec, config)
        except ImageNotFound:
            self._pull(api, spec.image)  # a registry is reachable in a cluster; here the image is built
            created = self._create_container(api, spec, config)
        cid: str = created["Id"]
        try:
            api.start(cid)
        except (DockerException, OSError) as exc:
            self._remove(cid)
            raise SandboxUnavailable(f"the sandbox container did not start: {exc}") from exc
        return cid

    def _pull(self, api: Any, image: str) -> None:
        """Pull ``image`` once it is found missing (a runner pod's fresh engine has none).

        Raises:
            SandboxUnavailable: naming the image and why the pull failed.
        """
        log.info("sandbox.pulling", image=image)
        try:
            api.pull(image)
        except (DockerException, OSError) as exc:
            raise SandboxUnavailable(
                f"sandbox image {image!r} is not on the engine at {self._base_url} and could not be pulled "
                f"({exc}); build it with `python -m shared.sandbox.image`"
            ) from exc

    def _create_container(self, api: Any, spec: SandboxSpec, config: Any) -> dict[str, Any]:
        try:
            created: dict[str, Any] = api.create_container(
                spec.image,
                command=["/bin/sh", "-c", _INIT],
                user=_USER,
                working_dir=WORKSPACE,
                hostname="sandbox",
                stdin_open=True,  # what _INIT waits on
                environment={},
                labels={LABEL: self._owner, HOST_LABEL: self._hostname, PROCESS_LABEL: self._process},
                network_disabled=not spec.network,
                host_config=config,
            )
        except ImageNotFound:
            raise
        except APIError as exc:
            raise SandboxFailed(f"the engine refused the sandbox container: {exc.explanation or exc}") from exc
        except (DockerException, OSError) as exc:
            raise SandboxUnavailable(f"no Docker engine at {self._base_url}: {exc}") from exc
        return created

    def _remove(self, cid: str) -> None:
        try:
            self._api().remove_container(cid, force=True, v=True)
        except NotFound:
            pass
        except (DockerException, OSError) as exc:
            log.warning("sandbox.remove_failed", container=cid[:12], error=str(exc))

    def prune(self) -> int:
        """Remove every sandbox container of this owner; how many."""
        api = self._api()
        found = api.containers(all=True, filters={"label": f"{LABEL}={self._owner}"})
        for c in found:
            self._remove(c["Id"])
        return len(found)

    def reap_orphans(self) -> int:
        """Remove the containers of dead processes of this host; how many.

        Those are left by a runner SIGKILLed mid-command, say, with whatever still runs in
        them. Containers of live processes, and those made on other hosts (their processes cannot be
        seen from here), are left alone. Failures are logged, never raised.
        """
        try:
            found = self._api().containers(all=True, filters={"label": [LABEL, f"{HOST_LABEL}={self._hostname}"]})
        except (SandboxUnavailable, DockerException, OSError) as exc:
            log.warning("sandbox.reap_failed", error=str(exc))
            return 0
        orphans = [
            c["Id"]
            for c in found
            if (tag := (c.get("Labels") or {}).get(PROCESS_LABEL)) and tag != self._process and not alive(tag)
        ]
        for cid in orphans:
            self._remove(cid)
        return len(orphans)

    async def aclose(self) -> None:
        self._readers.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.close)


def process_tag(pid: int | None = None) -> str:
    """``<pid>:<start time>`` of process ``pid`` (this one by default); empty when there is none.

    It names one process, never another that reuses its pid later.
    """
    pid = os.getpid() if pid is None else pid
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return f"{pid}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, starttime


def alive(tag: str) -> bool:
    """Whether the process ``tag`` names is running on this host."""
    pid, _, _ = tag.partition(":")
    return pid.isdigit() and process_tag(int(pid)) == tag


class DockerSandbox:
    """One running sandbox container; ``close`` removes it."""

    def __init__(self, backend: DockerBackend, cid: str, spec: SandboxSpec) -> None:
        self._backend = backend
        self._cid = cid
        self._spec = spec
        self._env: Mapping[str, str] = dict(spec.env)
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def id(self) -> str:
        return self._cid

    @property
    def backend(self) -> BackendName:
        return "docker"

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
        limit = self._spec.timeout_s if timeout_s is None else timeout_s
        args = checked_argv(argv, limit)
        check_env(env or {})
        async with self._lock:
            if self._closed:
                raise SandboxFailed(f"sandbox {self._cid[:12]} is closed")
            return await self._exec(args, limit, command_env(self._env, env), cwd, stdin, on_output)

    async def _exec(
        self,
        argv: list[str],
        limit: float,
        env: dict[str, str],
        cwd: str,
        stdin: bytes | None,
        on_output: OnOutput | None,
    ) -> ExecResult:
        api = self._backend._api()
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            exec_id, sock = await asyncio.to_thread(self._open, api, argv, env, cwd, stdin is not None)
        except NotFound as exc:
            raise SandboxFailed(f"sandbox {self._cid[:12]} is gone") from exc
        except APIError as exc:
            if exc.status_code == 409:  # "is not running": a command killed the init (kill -9 -1 can)
                raise SandboxFailed(
                    f"sandbox {self._cid[:12]} has stopped: a command killed every process in it, "
                    "and its workspace is gone"
                ) from exc
            raise SandboxFailed(f"the engine refused the command: {exc.explanation or exc}") from exc
        except (DockerException, OSError) as exc:
            raise SandboxUnavailable(f"the Docker engine did not answer: {exc}") from exc
        out = Collector(self._spec.max_output_bytes, on_output, loop)
        reading = loop.run_in_executor(self._backend._readers, _pump, sock, stdin, out)
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(reading), timeout=limit)
        except TimeoutError:
            timed_out = True
            await self._kill_all()
            try:
                await asyncio.wait_for(asyncio.shield(reading), timeout=_KILL_GRACE_S)
            except TimeoutError:
                _close(sock)  # the stream did not end: stop reading it
        finally:
            if not reading.done():
                _close(sock)
        code = await asyncio.to_thread(_exit_code, api, exec_id)
        result = ExecResult(
            exit_code=KILLED if timed_out else code,
            stdout=out.stdout(),
            stderr=out.stderr(),
            timed_out=timed_out,
            truncated=out.truncated,
            duration_s=time.monotonic() - started,
        )
        log.debug("sandbox.exec", container=self._cid[:12], exit_code=result.exit_code, timed_out=timed_out)
        return result

    def _open(self, api: Any, argv: list[str], env: dict[str, str], cwd: str, stdin: bool) -> tuple[str, Any]:
        exec_id: str = api.exec_create(
            self._cid,
            argv,
            stdout=True,
            stderr=True,
            stdin=stdin,
            tty=False,
            environment=[f"{k}={v}" for k, v in env.items()],
            workdir=cwd,
            user=_USER,
            privileged=False,
        )["Id"]
        return exec_id, api.exec_start(exec_id, socket=True, tty=False)

    async def _kill_all(self) -> None:
        """Kill every process in the container but its init (see ``_INIT``)."""
        try:
            await asyncio.to_thread(self._backend._api().kill, self._cid, "SIGUSR1")
        except (DockerException, OSError) as exc:
            log.warning("sandbox.kill_failed", container=self._cid[:12], error=str(exc))

    async def put_archive(self, dest: str, data: bytes) -> None:
        """Extract ``data`` into ``dest`` with the container's ``tar`` (the directory must exist)."""
        result = await self.exec(["tar", "-x", "-f", "-", "-C", dest], stdin=data, timeout_s=60)
        if not result.ok:
            raise SandboxFailed(f"could not extract into {dest}: {_said(result)}")

    async def get_archive(self, path: str) -> bytes:
        """``path`` as a tar archive, made by the container's ``tar`` (``-C`` its parent)."""
        parent, name = os.path.split(path.rstrip("/") or "/")
        result = await self.exec(["tar", "-c", "-f", "-", "-C", parent or "/", "--", name or "."], timeout_s=60)
        if not result.ok:
            raise SandboxFailed(f"could not archive {path}: {_said(result)}")
        if result.truncated:
            raise SandboxFailed(f"{path} is larger than the output limit ({self._spec.max_output_bytes} bytes)")
        return result.stdout

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._backend._remove, self._cid)
        log.debug("sandbox.closed", backend="docker", container=self._cid[:12])


def _pump(sock: Any, stdin: bytes | None, out: Collector) -> None:
    """Feed stdin, then read the multiplexed stream until the command's end (a reader thread)."""
    raw = getattr(sock, "_sock", sock)
    try:
        if stdin is not None:
            raw.sendall(stdin)
            raw.shutdown(socket.SHUT_WR)
        frames: Iterator[tuple[int, bytes]] = frames_iter(sock, tty=False)  # type: ignore[no-untyped-call]
        for stream, chunk in frames:
            if stream == STDOUT:
                out.add("stdout", chunk)
            elif stream == STDERR:
                out.add("stderr", chunk)
    except (OSError, ValueError):
        pass  # closed under us after a kill
    finally:
        _close(sock)


def _close(sock: Any) -> None:
    """Close the exec's stream: the SDK's wrapper and the socket under it (the wrapper alone leaks it)."""
    for closable in (sock, getattr(sock, "_sock", None)):
        try:
            if closable is not None:
                closable.close()
        except OSError:
            pass


def _exit_code(api: Any, exec_id: str) -> int:
    """The exec's exit code; its stream can end a moment before the engine records it."""
    for _ in range(50):
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.01)
    return KILLED


def _said(result: ExecResult) -> str:
    text = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    return text[-500:] or f"exit {result.exit_code}"

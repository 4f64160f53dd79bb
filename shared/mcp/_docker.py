"""Stdio MCP servers as containers on a Docker engine (``MCP_SANDBOX=docker``).

A runner in a Kubernetes pod is non-root, with every capability dropped and the runtime's
default seccomp profile: bubblewrap cannot make namespaces there. The pod's own engine
(the dind sidecar the shell sandboxes use, ``DOCKER_HOST``) can. Per activation::

    a volume botburrow-mcp-<id>, when a server needs the workspace
      └─ the plan's prepare commands (git init), each a one-shot container on it
    each server: a container of MCP_IMAGE, its argv as the entrypoint, exactly its plan's
      environment, network none (bridge for the servers that need it), read-only root,
      /tmp a tmpfs, /workspace the volume (or a tmpfs of its own), cap_drop ALL,
      no-new-privileges, user 10001, memory and pids limits, the engine's init as PID 1
    its stdio: the engine's attach endpoint on a connection of our own (asyncio, no thread),
      the multiplexed stream split into stdout and stderr
    close: every container and the volume removed

The servers' code is the image's, in ``/opt/mcp-servers`` whatever ``MCP_SERVERS_DIR`` says
(the functions image holds them there; offline, ``python -m shared.mcp.image`` builds one
from this host). A credential travels only in
the create call to the engine, on the pod's loopback. Containers and volumes are labelled
``dev.botburrow.mcp``; what a killed runner left behind is removed by ``prune``, which the
host runs before its first activation.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import structlog
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Mount, Ulimit

from shared.sandbox import SANDBOX_UID, WORKSPACE, SandboxFailed, SandboxUnavailable, connect

from ._launch import PIDS, PREPARE_TIMEOUT_S, prepare_commands
from ._plan import Plan, ServerPlan
from ._transport import EXIT_GRACE_S, LINE_LIMIT, Pipes

log = structlog.get_logger("botburrow.mcp")

IMAGE_SERVERS_DIR = Path("/opt/mcp-servers")
"""Where an MCP image holds the servers (the functions image does; so does ``python -m shared.mcp.image``'s)."""
LABEL = "dev.botburrow.mcp"
"""On every container and volume of an activation's servers; its value is the activation's id."""
MEMORY_MB = 512
TMP_MB = 64
_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
_STDOUT, _STDERR = 1, 2


class DockerServers:
    """The engine where MCP servers run, for every activation of a runner.

    Args:
        base_url: the engine (``DOCKER_HOST``): ``unix://`` or ``tcp://``.
        image: the image holding the servers at the plan's paths (``MCP_IMAGE``).
        lifetime_s: the longest an activation's servers may live; older leftovers are pruned.
    """

    def __init__(self, base_url: str, *, image: str, lifetime_s: float) -> None:
        self._base_url = base_url
        self._image = image
        self._lifetime_s = lifetime_s
        self._client: docker.DockerClient | None = None
        self._pruned = False
        self._lock = asyncio.Lock()

    def api(self) -> Any:
        """The SDK's low-level client (blocking: call it in a thread)."""
        if self._client is None:
            self._client = connect(self._base_url)
        return self._client.api

    async def start(self, plan: Plan) -> DockerLauncher:
        """One activation's launcher: its volume made and prepared; raises ``SandboxError``."""
        async with self._lock:
            if not self._pruned:
                self._pruned = True
                removed = await asyncio.to_thread(self.prune, older_than_s=self._lifetime_s)
                if removed:
                    log.info("mcp.pruned", containers=removed)
        launcher = DockerLauncher(self, secrets.token_hex(6))
        if any(s.workspace for s in plan.servers if s.transport == "stdio"):
            try:
                await asyncio.to_thread(launcher.make_volume, prepare_commands(plan))
            except BaseException:
                await launcher.close()
                raise
        return launcher

    def prune(self, *, older_than_s: float = 0.0) -> int:
        """Remove the servers' containers and volumes made more than ``older_than_s`` ago; how many containers."""
        api = self.api()
        cutoff = time.time() - older_than_s
        try:
            stale = [c for c in api.containers(all=True, filters={"label": LABEL}) if c.get("Created", 0) <= cutoff]
            for c in stale:
                with contextlib.suppress(NotFound):
                    api.remove_container(c["Id"], force=True)
            for volume in api.volumes(filters={"label": LABEL}).get("Volumes") or []:
                if _created(volume) <= cutoff:
                    with contextlib.suppress(NotFound, APIError):  # APIError: still in use
                        api.remove_volume(volume["Name"])
        except (DockerException, OSError) as exc:
            log.warning("mcp.prune_failed", error=str(exc))
            return 0
        return len(stale)

    def attach_address(self) -> tuple[str, str | int]:
        """Where to open the attach connection: ``("unix", path)`` or ``(host, port)``."""
        parts = urlsplit(self._base_url)
        if parts.scheme == "unix":
            return "unix", parts.path
        if parts.scheme == "tcp" and parts.hostname:
            return parts.hostname, parts.port or 2375
        raise SandboxUnavailable(f"MCP servers in Docker need a unix:// or tcp:// DOCKER_HOST, not {self._base_url}")

    @property
    def image(self) -> str:
        return self._image

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None


class DockerLauncher:
    """The containers of one activation's servers, and their workspace volume."""

    def __init__(self, engine: DockerServers, activation: str) -> None:
        self._engine = engine
        self._id = activation
        self._volume: str | None = None
        self._containers: list[str] = []

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self._id}

    def make_volume(self, prepare: list[tuple[str, ...]]) -> None:
        """The activation's workspace volume, and each ``prepare`` command run on it once."""
        api = self._engine.api()
        name = f"botburrow-mcp-{self._id}"
        api.create_volume(name=name, labels=self.labels)
        self._volume = name
        for command in prepare:
            cid = self._create(list(command), {}, network=False, workspace=True, stdin=False)
            api.start(cid)
            status = api.wait(cid, timeout=PREPARE_TIMEOUT_S).get("StatusCode")
            if status != 0:
                log.warning("mcp.prepare_failed", command=command[0], exit_code=status)
            self._remove(cid)

    async def spawn(self, plan: ServerPlan, env: Mapping[str, str]) -> Pipes:
        cid = await asyncio.to_thread(
            self._create, plan.argv, dict(env), network=plan.network, workspace=plan.workspace, stdin=True
        )
        try:
            pipes = await _attach(self._engine, cid)
            await asyncio.to_thread(self._engine.api().start, cid)
        except BaseException:
            await asyncio.to_thread(self._remove, cid)
            raise
        return _ContainerPipes(self, cid, pipes)

    async def close(self) -> None:
        await asyncio.to_thread(self._remove_all)

    def _create(self, argv: Sequence[str], env: dict[str, str], *, network: bool, workspace: bool, stdin: bool) -> str:
        api = self._engine.api()
        tmpfs = {"/tmp": f"rw,noexec,nosuid,nodev,size={TMP_MB}m,mode=1777"}
        mounts: list[Mount] = []
        if workspace and self._volume is not None:
            mounts.append(Mount(WORKSPACE, self._volume, type="volume"))
        else:
            tmpfs[WORKSPACE] = f"rw,nosuid,nodev,size={TMP_MB}m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700"
        config = api.create_host_config(
            network_mode="bridge" if network else "none",
            read_only=True,
            tmpfs=tmpfs,
            mounts=mounts,
            mem_limit=MEMORY_MB * 1024 * 1024,
            memswap_limit=MEMORY_MB * 1024 * 1024,
            pids_limit=PIDS,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            ipc_mode="private",
            init=True,
        )
        kwargs: dict[str, Any] = {
            "entrypoint": list(argv[:1]),
            "command": list(argv[1:]),
            "user": _USER,
            "working_dir": WORKSPACE,
            "hostname": "mcp",
            "environment": env,
            "labels": self.labels,
            "network_disabled": not network,
            "host_config": config,
            "stdin_open": stdin,  # and, not detached, StdinOnce: EOF on the attach closes it
        }
        try:
            cid: str = api.create_container(self._engine.image, **kwargs)["Id"]
        except ImageNotFound:
            _pull(api, self._engine.image)
            cid = api.create_container(self._engine.image, **kwargs)["Id"]
        except (DockerException, OSError) as exc:
            raise SandboxFailed(f"the engine refused the server's container: {exc}") from exc
        self._containers.append(cid)
        return cid

    def _remove(self, cid: str) -> None:
        try:
            self._engine.api().remove_container(cid, force=True)
        except NotFound:
            pass
        except (DockerException, OSError) as exc:
            log.warning("mcp.remove_failed", container=cid[:12], error=str(exc))
            return
        with contextlib.suppress(ValueError):
            self._containers.remove(cid)

    def _remove_all(self) -> None:
        for cid in list(self._containers):
            self._remove(cid)
        if self._volume is not None:
            try:
                self._engine.api().remove_volume(self._volume, force=True)
            except NotFound:
                pass
            except (DockerException, OSError) as exc:
                log.warning("mcp.remove_failed", volume=self._volume, error=str(exc))
            self._volume = None


class _Stdin:
    """A container's stdin: the write side of the attach connection; ``close`` half-closes it (EOF)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        if not self._writer.is_closing() and self._writer.can_write_eof():
            self._writer.write_eof()


class _Attached:
    """The attach connection, split: stdin, and stdout and stderr fed by a demultiplexing task."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.stdin = _Stdin(writer)
        self.stdout = asyncio.StreamReader(limit=LINE_LIMIT)
        self.stderr = asyncio.StreamReader(limit=LINE_LIMIT)
        self.task = asyncio.create_task(self._demux(reader), name="mcp-attach")

    async def _demux(self, reader: asyncio.StreamReader) -> None:
        """Frames of ``[stream, 0, 0, 0, size (big-endian u32)]`` then ``size`` bytes, until EOF."""
        try:
            while True:
                header = await reader.readexactly(8)
                kind, size = header[0], struct.unpack(">I", header[4:])[0]
                data = await reader.readexactly(size)
                (self.stderr if kind == _STDERR else self.stdout).feed_data(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.stdout.feed_eof()
            self.stderr.feed_eof()


class _ContainerPipes:
    """``Pipes`` of a server's container; ``stop`` waits for it to end on EOF, then removes it."""

    def __init__(self, launcher: DockerLauncher, cid: str, attached: _Attached) -> None:
        self._launcher = launcher
        self._cid = cid
        self._attached = attached
        self.stdin = attached.stdin
        self.stdout = attached.stdout
        self.stderr = attached.stderr

    @property
    def id(self) -> str:
        return self._cid

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._attached.task), EXIT_GRACE_S)
        await asyncio.to_thread(self._launcher._remove, self._cid)
        self._attached.writer.close()
        self._attached.task.cancel()
        await asyncio.gather(self._attached.task, return_exceptions=True)


async def _attach(engine: DockerServers, cid: str) -> _Attached:
    """The engine's attach endpoint for ``cid``'s stdio, upgraded to a raw stream (before it starts)."""
    host, port = engine.attach_address()
    try:
        if host == "unix":
            reader, writer = await asyncio.open_unix_connection(str(port), limit=LINE_LIMIT)
        else:
            reader, writer = await asyncio.open_connection(host, int(port), limit=LINE_LIMIT)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot reach the Docker engine to attach: {exc}") from exc
    writer.write(
        f"POST /containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
        "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
    )
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise SandboxFailed(f"the engine did not answer the attach: {exc!r}") from exc
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 101 " not in status and " 200 " not in status:
        writer.close()
        raise SandboxFailed(f"the engine refused the attach: {status}")
    return _Attached(reader, writer)


def _pull(api: Any, image: str) -> None:
    log.info("mcp.pulling", image=image)
    try:
        api.pull(image)
    except (DockerException, OSError) as exc:
        raise SandboxUnavailable(
            f"the MCP image {image!r} is not on the engine and could not be pulled ({exc}); "
            "set MCP_IMAGE, or build one offline with `python -m shared.mcp.image`"
        ) from exc


def _created(volume: Mapping[str, Any]) -> float:
    """A volume's creation time (seconds since the epoch); now when the engine did not say."""
    try:
        return datetime.fromisoformat(str(volume["CreatedAt"])).timestamp()
    except (KeyError, ValueError):
        return time.time()

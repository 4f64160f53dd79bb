"""Stdio servers as containers (``MCP_SANDBOX=docker``): how each is locked down, and nothing left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import docker
import pytest

from shared.mcp import McpHost
from shared.mcp._docker import LABEL, DockerServers
from shared.mcp.image import DEFAULT_TAG as MCP_IMAGE
from shared.settings import McpSandboxChoice
from tests.shared.mcp.conftest import CREDENTIALS, definition, mcp_settings


@pytest.fixture
def engine(mcp_docker_host: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=mcp_docker_host)
    yield client
    client.close()


def docker_host(servers_dir: Path, url: str, **options: object) -> McpHost:
    settings = mcp_settings(servers_dir, sandbox=McpSandboxChoice.DOCKER, docker_host=url, image=MCP_IMAGE, **options)
    return McpHost(settings, lifetime_s=120)


def mine(engine: docker.DockerClient) -> list[dict[str, Any]]:
    return [engine.api.inspect_container(c["Id"]) for c in engine.api.containers(filters={"label": LABEL})]


async def test_each_server_is_a_locked_down_container_with_only_the_network_it_needs(
    servers_dir: Path, mcp_docker_host: str, engine: docker.DockerClient
) -> None:
    host = docker_host(servers_dir, mcp_docker_host)
    agent = definition("boxed", ["github:read", "filesystem:write"], ["github", "filesystem"])
    async with host.open(agent, note=lambda _t: None) as families:
        assert sorted(f.server for f in families) == ["filesystem", "github"]
        found = {" ".join(c["Config"]["Entrypoint"] + c["Config"]["Cmd"]): c for c in mine(engine)}
        github = next(c for k, c in found.items() if "server-github" in k)
        filesystem = next(c for k, c in found.items() if "server-filesystem" in k)
        for c in (github, filesystem):
            hc = c["HostConfig"]
            assert hc["ReadonlyRootfs"] is True and hc["CapDrop"] == ["ALL"]
            assert hc["SecurityOpt"] == ["no-new-privileges:true"] and hc["PidsLimit"] > 0
            assert c["Config"]["User"] == "10001:10001"
            assert not any(v in " ".join(c["Config"]["Cmd"]) for v in CREDENTIALS.values())
        assert github["HostConfig"]["NetworkMode"] == "bridge"
        assert filesystem["HostConfig"]["NetworkMode"] == "none"
        assert [m["Type"] for m in filesystem["Mounts"]] == ["volume"]
        env = dict(e.split("=", 1) for e in github["Config"]["Env"])
        assert env["GITHUB_PERSONAL_ACCESS_TOKEN"] == CREDENTIALS["GITHUB_TOKEN_READ"]
    await host.aclose()
    assert mine(engine) == [] and engine.api.volumes(filters={"label": LABEL}).get("Volumes") in (None, [])


@asynccontextmanager
async def tcp_engine(unix_url: str) -> AsyncIterator[str]:
    """The engine on a loopback TCP port (as a pod's dind sidecar serves it), forwarded to its socket."""
    assert unix_url.startswith("unix://"), "these tests reach the engine on its socket"

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()  # a half-close is how the attach tells a server its stdin ended
        except OSError:
            pass

    handlers: set[asyncio.Task[None]] = set()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        up_reader, up_writer = await asyncio.open_unix_connection(unix_url[len("unix://") :])
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
                await asyncio.gather(w.wait_closed(), return_exceptions=True)

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    async with server:
        yield f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def test_an_engine_on_tcp_runs_them_as_the_pods_does(
    servers_dir: Path, mcp_docker_host: str, engine: docker.DockerClient
) -> None:
    async with tcp_engine(mcp_docker_host) as url:
        host = docker_host(servers_dir, url)
        agent = definition("podded", ["filesystem:write"], ["filesystem"])
        async with host.open(agent, note=lambda _t: None) as [fs]:
            await fs.call("mcp__filesystem__write_file", {"path": "/workspace/a.txt", "content": "over tcp"})
            assert await fs.call("mcp__filesystem__read_text_file", {"path": "/workspace/a.txt"}) == "over tcp"
        await host.aclose()
    assert mine(engine) == []


async def test_what_a_killed_runner_left_behind_is_pruned(
    servers_dir: Path, mcp_docker_host: str, engine: docker.DockerClient
) -> None:
    servers = DockerServers(mcp_docker_host, image=MCP_IMAGE, lifetime_s=120)
    plan = docker_host(servers_dir, mcp_docker_host).plan(definition("left", ["filesystem:read"], ["filesystem"]))
    launcher = await servers.start(plan)
    pipes = await launcher.spawn(plan.servers[0], {"PATH": "/usr/bin"})  # never closed: its runner "died"
    assert len(mine(engine)) == 1
    assert servers.prune(older_than_s=3600) == 0, "a young container may be a live activation's"
    assert servers.prune(older_than_s=0) == 1
    assert mine(engine) == [] and engine.api.volumes(filters={"label": LABEL}).get("Volumes") in (None, [])
    assert await pipes.stdout.read() == b"", "its attach ended with the container"
    await pipes.stop()
    await servers.aclose()


async def test_without_an_engine_the_servers_are_noted_and_the_activation_goes_on(servers_dir: Path) -> None:
    host = docker_host(servers_dir, "unix:///nonexistent/docker.sock")
    notes: list[str] = []
    async with host.open(definition("lonely", ["filesystem:read"], ["filesystem"]), note=notes.append) as families:
        assert families == []
    assert notes == [
        "no stdio MCP server started: no sandbox for them "
        "(no Docker engine at unix:///nonexistent/docker.sock: the socket does not exist)"
    ]


async def test_an_image_that_cannot_be_had_names_itself(servers_dir: Path, mcp_docker_host: str) -> None:
    host = McpHost(
        mcp_settings(
            servers_dir, sandbox=McpSandboxChoice.DOCKER, docker_host=mcp_docker_host, image="botburrow-none:0"
        ),
        lifetime_s=120,
    )
    notes: list[str] = []
    async with host.open(definition("imageless", ["filesystem:read"], ["filesystem"]), note=notes.append) as families:
        assert families == []
    [note] = notes
    assert note.startswith("MCP server 'filesystem' did not start: ") and "'botburrow-none:0'" in note, note
    await host.aclose()

"""The built-in MCP servers as installed by ``make mcp-servers`` (``scripts/ensure-mcp-servers``).

``host`` runs them each way a runner does: in bubblewrap, and as containers on the Docker
engine (``DOCKER_HOST``) from the image ``make mcp-image`` builds. Under ``CI=true`` servers
that are not installed, no bubblewrap, or no engine or image fail the tests instead of skipping.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from shared.agents import AgentConfig, AgentDefinition
from shared.logs import Redactor
from shared.mcp import McpHost, McpMetrics, ToolPins
from shared.mcp.image import DEFAULT_TAG as MCP_IMAGE
from shared.settings import McpSandboxChoice, McpSettings, Secret
from shared.streams import Redis, StreamKeys
from tests.support import ROOT, require
from tests.support.docker import docker_with
from tests.support.postgres import PostgresServer, binaries

SERVERS = ROOT / "mcp-servers"
CREDENTIALS = {
    "GITHUB_TOKEN_READ": "ghp_read_0123456789abcdef",
    "GITHUB_TOKEN_WRITE": "ghp_write_0123456789abcdef",
    "BRAVE_API_KEY": "brave-0123456789abcdef",
    "POSTGRES_URL_READ": "postgresql://reader:pw-reader-0123@127.0.0.1:1/none",
    "POSTGRES_URL_WRITE": "postgresql://writer:pw-writer-0123@127.0.0.1:1/none",
}


@pytest.fixture(scope="session")
def servers_dir() -> Path:
    """``mcp-servers/`` with its node and Python servers installed, and bubblewrap to run them in."""
    installed = (SERVERS / "node_modules" / "@modelcontextprotocol" / "server-filesystem").is_dir() and (
        SERVERS / ".venv" / "bin" / "mcp-server-git"
    ).exists()
    require(installed, "the built-in MCP servers are not installed (make mcp-servers)")
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed (make sandbox)")
    return SERVERS


def definition(name: str, grants: list[str], servers: list[Any]) -> AgentDefinition:
    config = AgentConfig.model_validate(
        {
            "name": name,
            "type": "native",
            "brain": {"model": "claude-haiku-4-5"},
            "capabilities": {"grants": grants, "mcp_servers": servers},
        }
    )
    return AgentDefinition(
        config=config, system_prompt="You are a test agent.", skills=(), missing_skills=(), origin="t"
    )


def mcp_settings(servers_dir: Path, **options: Any) -> McpSettings:
    credentials = {k: Secret(v) for k, v in CREDENTIALS.items()}
    return McpSettings(servers_dir=servers_dir, credentials=options.pop("credentials", credentials), **options)


@pytest.fixture(scope="session")
def mcp_docker_host() -> str:
    """The Docker engine's address, once it answers and holds the MCP image."""
    return docker_with(MCP_IMAGE, built_by="mcp-image")


@pytest.fixture(params=[McpSandboxChoice.BWRAP, McpSandboxChoice.DOCKER], ids=["bwrap", "docker"])
async def host(
    request: pytest.FixtureRequest, servers_dir: Path, redis: Redis, keys: StreamKeys, registry: CollectorRegistry
) -> AsyncIterator[McpHost]:
    """A host whose stdio servers run in bubblewrap, then (a second run of the test) in Docker."""
    choice: McpSandboxChoice = request.param
    docker_host = request.getfixturevalue("mcp_docker_host") if choice is McpSandboxChoice.DOCKER else None
    options: dict[str, Any] = {"docker_host": docker_host, "image": MCP_IMAGE} if docker_host else {}
    host = McpHost(
        mcp_settings(servers_dir, sandbox=choice, **options),
        pins=ToolPins(redis, keys=keys),
        redactor=Redactor(CREDENTIALS.values()),
        metrics=McpMetrics(registry),
        lifetime_s=120,
    )
    yield host
    await host.aclose()


@pytest.fixture
def unsandboxed(servers_dir: Path, redis: Redis, keys: StreamKeys, registry: CollectorRegistry) -> McpHost:
    """A host running servers as plain children (``MCP_SANDBOX=none``), for servers of the tests' own."""
    return McpHost(
        mcp_settings(servers_dir, sandbox=McpSandboxChoice.NONE),
        pins=ToolPins(redis, keys=keys),
        redactor=Redactor(CREDENTIALS.values()),
        metrics=McpMetrics(registry),
        lifetime_s=120,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL with a read-only role ``reader`` and a table to read."""
    bin_dir = binaries()
    require(bin_dir is not None, "PostgreSQL is not installed (make postgres)")
    assert bin_dir is not None
    with PostgresServer(bin_dir) as server:
        server.sql("CREATE TABLE plants (name text, water_every_days int)")
        server.sql("INSERT INTO plants VALUES ('fern', 3), ('cactus', 21)")
        server.sql("CREATE ROLE reader LOGIN PASSWORD 'pw-reader-0123'")
        server.sql("GRANT SELECT ON plants TO reader")
        yield server

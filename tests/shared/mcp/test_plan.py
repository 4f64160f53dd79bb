"""From grants and mcp_servers to the servers an activation starts: exact grants, one credential each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from shared.agents import Capabilities
from shared.mcp import BUILTINS, CREDENTIAL_VARIABLES, permissions, plan_servers
from shared.mcp._catalog import GITHUB_READ, GITHUB_WRITE
from shared.settings import MCP_CREDENTIALS, McpSettings, Secret

ROOT = Path("/opt/mcp-servers")
TOKENS = {
    "GITHUB_TOKEN_READ": "ghp_read",
    "GITHUB_TOKEN_WRITE": "ghp_write",
    "BRAVE_API_KEY": "brave-key",
    "POSTGRES_URL_READ": "postgresql://r:pw@db/x",
    "POSTGRES_URL_WRITE": "postgresql://w:pw@db/x",
}


def settings(**options: Any) -> McpSettings:
    creds = {k: Secret(v) for k, v in TOKENS.items()}
    return McpSettings(servers_dir=ROOT, credentials=options.pop("credentials", creds), **options)


def caps(grants: list[str], servers: list[Any]) -> Capabilities:
    return Capabilities.model_validate({"grants": grants, "mcp_servers": servers})


def test_the_catalogs_credentials_are_the_ones_the_settings_read() -> None:
    assert set(CREDENTIAL_VARIABLES) == set(MCP_CREDENTIALS)


def test_a_star_grants_every_permission_of_its_service() -> None:
    # Schema v1 admits no "*" in a grant; the matcher honours it for grants from elsewhere.
    assert permissions(("github:*",), "github", BUILTINS["github"].tools) == ["read", "write"]
    assert permissions(("github:read", "git:write"), "github", BUILTINS["github"].tools) == ["read"]


@pytest.mark.parametrize(
    ("grants", "token", "tools"),
    [
        (["github:read"], "ghp_read", GITHUB_READ),
        (["github:write"], "ghp_write", GITHUB_WRITE),
        (["github:read", "github:write"], "ghp_write", GITHUB_READ | GITHUB_WRITE),
    ],
)
def test_github_grants_match_exactly_and_bring_one_token(grants: list[str], token: str, tools: frozenset[str]) -> None:
    plan = plan_servers(caps(grants, ["github"]), settings())
    [server] = plan.servers
    assert dict(server.env) == {"GITHUB_PERSONAL_ACCESS_TOKEN": token}
    assert server.allowed == tools and server.network and not server.workspace
    assert server.argv[0] == "node" and "server-github" in server.argv[1]
    assert token not in " ".join(server.argv), "a credential is never on the command line"
    assert "ghp_" not in repr(server), "nor in the plan's repr"
    assert plan.notes == []


@pytest.mark.parametrize("grants", [[], ["github:read:org"], ["github-enterprise:read"], ["hub:write"], ["github"]])
def test_nothing_matches_by_prefix_or_elsewhere(grants: list[str]) -> None:
    plan = plan_servers(caps(grants, ["github"]) if all(":" in g for g in grants) else Capabilities(), settings())
    assert plan.servers == []


def test_a_server_without_its_grant_or_credential_is_left_out_with_the_reason() -> None:
    plan = plan_servers(caps(["hub:read"], ["github", "brave-search", "nonesuch"]), settings())
    assert plan.servers == []
    assert plan.notes[0] == "MCP server 'github' needs a grant (github:read or github:write); the agent holds none"
    assert plan.notes[1] == "MCP server 'brave' needs a grant (brave:search); the agent holds none"
    assert plan.notes[2].startswith("MCP server 'nonesuch' is neither a built-in nor declared (known: brave, ")
    missing = plan_servers(caps(["brave:search"], ["brave"]), settings(credentials={}))
    assert missing.servers == [] and missing.notes == [
        "MCP server 'brave' needs BRAVE_API_KEY for brave:search; the runner has none"
    ]


def test_the_fixture_coders_servers_follow_its_grants() -> None:
    grants = ["github:read", "github:write", "hub:read", "hub:write", "brave:search", "filesystem:read"]
    plan = plan_servers(caps(grants, ["github", "filesystem", "hub", "hub"]), settings())
    assert [s.name for s in plan.servers] == ["github", "filesystem"] and plan.in_process == ["hub"]
    [github, filesystem] = plan.servers
    assert github.credentials == ("GITHUB_TOKEN_WRITE",)
    assert dict(filesystem.env) == {} and filesystem.workspace and not filesystem.network
    assert "write_file" not in (filesystem.allowed or set()) and "read_text_file" in (filesystem.allowed or set())
    assert filesystem.argv[-1] == "/workspace"
    assert plan.notes == ["MCP server 'hub' is listed twice: started once"]


def test_postgres_gets_its_url_in_its_environment_never_its_argv() -> None:
    [server] = plan_servers(caps(["postgres:read"], ["postgres"]), settings()).servers
    assert dict(server.env) == {"POSTGRES_URL": TOKENS["POSTGRES_URL_READ"]}
    assert server.argv == ("node", str(ROOT / "postgres.mjs"))


def test_a_declared_server_needs_a_grant_of_its_own_name() -> None:
    declared = {"name": "notes", "command": "/usr/bin/node", "args": ["/opt/notes.js"], "env": {"MODE": "x"}}
    assert plan_servers(caps(["hub:read"], [declared]), settings()).notes == [
        "declared MCP server 'notes' needs a grant notes:<permission>"
    ]
    [server] = plan_servers(caps(["notes:use"], [declared]), settings()).servers
    assert server.argv == ("/usr/bin/node", "/opt/notes.js") and dict(server.env) == {"MODE": "x"}
    assert server.allowed is None and not server.network
    assert plan_servers(caps(["notes:use", "network:outbound"], [declared]), settings()).servers[0].network
    clash = {"name": "github", "command": "x"}
    assert "needs a name of its own" in plan_servers(caps(["github:read"], [clash]), settings()).notes[0]


def test_http_servers_come_from_the_operator_by_name() -> None:
    http = Secret(orjson.dumps({"search": {"url": "https://mcp.example/mcp", "token": "tok-123"}}).decode())
    [server] = plan_servers(caps(["search:query"], ["search"]), settings(http_servers=http)).servers
    assert server.transport == "http" and server.url == "https://mcp.example/mcp"
    assert dict(server.headers) == {"Authorization": "Bearer tok-123"} and server.credentials == ("MCP_HTTP_SERVERS",)
    bad = plan_servers(caps([], []), settings(http_servers=Secret("not json")))
    assert bad.notes == ["MCP_HTTP_SERVERS is not a JSON object: no HTTP MCP server is available"]


def test_every_builtin_names_its_grants_in_the_catalog() -> None:
    for builtin in BUILTINS.values():
        assert builtin.tools, builtin.name
        assert set(builtin.credential_order) <= set(builtin.credentials), builtin.name

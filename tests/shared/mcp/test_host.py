"""The real built-in servers, each in its sandbox (bubblewrap, or a container) with exactly its grant's credential."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from shared.logs import Redactor
from shared.mcp import McpHost
from shared.mcp._docker import LABEL
from shared.settings import Secret
from shared.tools import ToolInputError
from tests.shared.mcp.conftest import CREDENTIALS, definition, mcp_settings
from tests.support.postgres import PostgresServer
from tests.support.procs import alive, cmdline, container_processes, descendants, environ

BENIGN = {"PATH", "HOME", "LANG", "PWD", "HOSTNAME"}
"""What a server's environment holds besides its credential: nothing secret."""
SCRIPTS = {
    "github": "server-github/dist/index.js",
    "brave": "server-brave-search/dist/index.js",
    "filesystem": "server-filesystem/dist/index.js",
    "postgres": "postgres.mjs",
    "git": "mcp_server_git",
}


def server_processes() -> dict[str, list[int]]:
    """The processes of each built-in server under this test process or in its containers, by server name."""
    found: dict[str, list[int]] = {}
    docker_host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    in_containers = container_processes(docker_host, LABEL) if os.path.exists(docker_host[7:]) else []
    for pid in descendants(os.getpid()) + in_containers:
        argv = cmdline(pid)
        if argv and not argv[0].endswith(("bwrap", "prlimit", "docker-init")):
            for name, script in SCRIPTS.items():
                if any(a.endswith(script) for a in argv):
                    found.setdefault(name, []).append(pid)
    return found


async def test_filesystem_and_git_work_on_one_workspace_as_the_sandbox_user(host: McpHost) -> None:
    agent = definition("coder-one", ["filesystem:write", "git:write"], ["filesystem", "git"])
    notes: list[str] = []
    async with host.open(agent, note=notes.append) as families:
        assert notes == []
        fs, git = (next(f for f in families if f.server == name) for name in ("filesystem", "git"))
        assert "write_file" in fs.tools and "move_file" in fs.tools and "git_commit" in git.tools
        assert await fs.call("mcp__filesystem__write_file", {"path": "/workspace/notes.md", "content": "# hi\n"})
        status = await git.call("mcp__git__git_status", {"repo_path": "/workspace"})
        assert "notes.md" in status, status
        await git.call("mcp__git__git_add", {"repo_path": "/workspace", "files": ["notes.md"]})
        assert "Changes committed" in await git.call(
            "mcp__git__git_commit", {"repo_path": "/workspace", "message": "notes"}
        )
        procs = server_processes()
        [fs_pid] = procs["filesystem"]
        status_lines = Path(f"/proc/{fs_pid}/status").read_text().splitlines()
        uid = next(line.split()[1] for line in status_lines if line.startswith("Uid:"))
        if os.geteuid() == 0:
            assert uid == "10001", "a server never runs as the runner's root"
        assert os.readlink(f"/proc/{fs_pid}/ns/net") != os.readlink("/proc/self/ns/net"), "no network of ours"
    assert [p for pids in procs.values() for p in pids if alive(p)] == [], "every server is gone with the activation"


@pytest.mark.parametrize(
    ("grants", "servers", "expected"),
    [
        (["github:read"], ["github"], {"github": {"GITHUB_PERSONAL_ACCESS_TOKEN": "GITHUB_TOKEN_READ"}}),
        (
            ["github:write", "brave:search", "filesystem:read"],
            ["github", "brave", "filesystem"],
            {
                "github": {"GITHUB_PERSONAL_ACCESS_TOKEN": "GITHUB_TOKEN_WRITE"},
                "brave": {"BRAVE_API_KEY": "BRAVE_API_KEY"},
                "filesystem": {},
            },
        ),
        (
            ["postgres:read", "git:read"],
            ["postgres", "git"],
            {"postgres": {"POSTGRES_URL": "POSTGRES_URL_READ"}, "git": {}},
        ),
    ],
)
async def test_each_server_process_holds_exactly_its_grants_credential(
    host: McpHost, grants: list[str], servers: list[str], expected: dict[str, dict[str, str]]
) -> None:
    agent = definition("battery", grants, servers)
    async with host.open(agent, note=lambda _text: None) as families:
        assert {f.server for f in families} >= set(expected) - {"postgres"}  # postgres needs a database to list
        procs = server_processes()
        for name, credential in expected.items():
            assert procs.get(name), f"{name} runs"
            for pid in procs[name]:
                env = environ(pid)
                wanted = {var: CREDENTIALS[setting] for var, setting in credential.items()}
                plain = {k: v for k, v in env.items() if k not in wanted}
                assert set(plain) <= BENIGN and plain["PATH"] == "/usr/local/bin:/usr/bin:/bin", (name, sorted(env))
                assert {k: v for k, v in env.items() if k in wanted} == wanted, name
                others = [v for s, v in CREDENTIALS.items() if s not in credential.values()]
                seen = " ".join([*env.values(), *cmdline(pid)])
                assert not [v for v in others if v in seen], f"{name} holds a credential it was not granted"
                assert not [v for v in CREDENTIALS.values() if v in " ".join(cmdline(pid))], "never in argv"


async def test_a_read_grant_offers_only_read_tools(host: McpHost) -> None:
    async with host.open(definition("reader", ["github:read"], ["github"]), note=lambda _t: None) as families:
        [github] = families
        assert "get_file_contents" in github.tools and "search_code" in github.tools
        assert not {"create_issue", "push_files", "merge_pull_request"} & set(github.tools)
        assert all(s.name.startswith("mcp__github__") and len(s.name) <= 64 for s in github.specs())


async def test_a_server_that_cannot_start_takes_only_its_tools_away(host: McpHost, registry: CollectorRegistry) -> None:
    broken = {"name": "broken", "command": "/nonexistent/server", "args": []}
    agent = definition("half", ["filesystem:read", "broken:use"], ["filesystem", broken, "github"])
    notes: list[str] = []
    async with host.open(agent, note=notes.append) as families:
        assert [f.server for f in families] == ["filesystem"]
        assert any(n.startswith("MCP server 'broken' did not start") for n in notes), notes
        assert "MCP server 'github' needs a grant (github:read or github:write); the agent holds none" in notes
    started = registry.get_sample_value
    assert started("botburrow_mcp_servers_started_total", {"server": "broken", "outcome": "failed"}) == 1
    assert started("botburrow_mcp_servers_started_total", {"server": "filesystem", "outcome": "ok"}) == 1


async def test_the_postgres_server_queries_a_real_database_with_the_read_url(
    servers_dir: Path, postgres: PostgresServer
) -> None:
    read_url = postgres.url("reader", "pw-reader-0123")
    settings = mcp_settings(servers_dir, credentials={"POSTGRES_URL_READ": Secret(read_url)})
    host = McpHost(settings, redactor=Redactor([read_url]), lifetime_s=120)
    async with host.open(definition("analyst", ["postgres:read"], ["postgres"]), note=lambda _t: None) as [pg]:
        assert pg.tools == ["query"]
        rows = await pg.call("mcp__postgres__query", {"sql": "SELECT name FROM plants ORDER BY water_every_days"})
        assert '"fern"' in rows and rows.index("fern") < rows.index("cactus")
        with pytest.raises(ToolInputError):
            await pg.call("mcp__postgres__query", {"sql": "DELETE FROM plants"})  # a read-only transaction
        [pid] = server_processes()["postgres"]
        assert environ(pid)["POSTGRES_URL"] == read_url and read_url not in " ".join(cmdline(pid))
    assert postgres.sql("SELECT count(*) FROM plants").strip() == "2"

"""The built-in MCP servers: what each runs, which grant offers which of its tools, which credential it gets.

A grant is ``service:permission``; a server's tools are allowed per permission, and
matching is exact: ``github:read`` allows the read tools and brings the read token,
never the write one; ``github:*`` means every permission of the service; nothing
matches by prefix (``github:read:org`` is not ``github:read``). Of the permissions an
agent holds, the first one in ``credential_order`` that has a credential decides which
credential the server process gets; the tools are the union over all of them.

=============  ==============  ==========================================  =====================================
server         grants          credential (setting → server's variable)    network, workspace
=============  ==============  ==========================================  =====================================
``github``     github:read     GITHUB_TOKEN_READ → GITHUB_PERSONAL_...      the host's network
               github:write    GITHUB_TOKEN_WRITE → GITHUB_PERSONAL_...
``brave``      brave:search    BRAVE_API_KEY → BRAVE_API_KEY               the host's network
``filesystem`` filesystem:read —                                           the MCP workspace, no network
               filesystem:write
``git``        git:read        —                                           the MCP workspace (a git
               git:write                                                   repository from the start), no network
``postgres``   postgres:read   POSTGRES_URL_READ → POSTGRES_URL (a         the host's network
               postgres:write  wrapper hands it on; never in argv)
               POSTGRES_URL_WRITE
=============  ==============  ==========================================  =====================================

``brave-search`` is another name for ``brave``. ``hub`` is served in-process by the Hub
tools (``shared.tools.HubTools``), with ``hub:read``/``hub:write``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

GITHUB_READ = frozenset(
    {
        "get_file_contents",
        "search_repositories",
        "search_code",
        "search_issues",
        "search_users",
        "list_commits",
        "list_issues",
        "get_issue",
        "get_pull_request",
        "list_pull_requests",
        "get_pull_request_files",
        "get_pull_request_status",
        "get_pull_request_comments",
        "get_pull_request_reviews",
    }
)
GITHUB_WRITE = frozenset(
    {
        "create_or_update_file",
        "create_repository",
        "push_files",
        "create_issue",
        "create_pull_request",
        "fork_repository",
        "create_branch",
        "update_issue",
        "add_issue_comment",
        "create_pull_request_review",
        "merge_pull_request",
        "update_pull_request_branch",
    }
)
FILESYSTEM_READ = frozenset(
    {
        "read_file",
        "read_text_file",
        "read_media_file",
        "read_multiple_files",
        "list_directory",
        "list_directory_with_sizes",
        "directory_tree",
        "search_files",
        "get_file_info",
        "list_allowed_directories",
    }
)
FILESYSTEM_WRITE = frozenset({"write_file", "edit_file", "create_directory", "move_file"})
GIT_READ = frozenset(
    {"git_status", "git_diff_unstaged", "git_diff_staged", "git_diff", "git_log", "git_show", "git_branch"}
)
GIT_WRITE = frozenset({"git_commit", "git_add", "git_reset", "git_create_branch", "git_checkout"})

Argv = Callable[[Path], list[str]]
"""The server's command line, from the directory the servers are installed in (``MCP_SERVERS_DIR``)."""


@dataclass(frozen=True, kw_only=True)
class Builtin:
    """One built-in server.

    Attributes:
        name: how ``capabilities.mcp_servers`` names it.
        service: the service of the grants that offer it.
        argv: its command line, from the servers directory.
        tools: per permission, the tools it allows (``None``: all the server offers).
        credentials: per permission, ``(settings variable, the server's variable)``.
        credential_order: which permission's credential wins when the agent holds several.
        network: whether it needs the network (the host's).
        workspace: whether it sees the activation's MCP workspace (``/workspace``).
        prepare: commands run once in the MCP sandbox before it starts (``git init``).
    """

    name: str
    service: str
    argv: Argv
    tools: Mapping[str, frozenset[str] | None]
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    credential_order: tuple[str, ...] = ()
    network: bool = False
    workspace: bool = False
    prepare: tuple[tuple[str, ...], ...] = ()


def _node(package: str) -> Argv:
    return lambda root: ["node", str(root / "node_modules" / "@modelcontextprotocol" / package / "dist" / "index.js")]


BUILTINS: Mapping[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            name="github",
            service="github",
            argv=_node("server-github"),
            tools={"read": GITHUB_READ, "write": GITHUB_WRITE},
            credentials={
                "write": ("GITHUB_TOKEN_WRITE", "GITHUB_PERSONAL_ACCESS_TOKEN"),
                "read": ("GITHUB_TOKEN_READ", "GITHUB_PERSONAL_ACCESS_TOKEN"),
            },
            credential_order=("write", "read"),
            network=True,
        ),
        Builtin(
            name="brave",
            service="brave",
            argv=_node("server-brave-search"),
            tools={"search": None},
            credentials={"search": ("BRAVE_API_KEY", "BRAVE_API_KEY")},
            credential_order=("search",),
            network=True,
        ),
        Builtin(
            name="filesystem",
            service="filesystem",
            argv=lambda root: [*_node("server-filesystem")(root), "/workspace"],
            tools={"read": FILESYSTEM_READ, "write": FILESYSTEM_READ | FILESYSTEM_WRITE},
            workspace=True,
        ),
        Builtin(
            name="git",
            service="git",
            # The venv's python by its own path, not the entry script: a script's shebang names the
            # directory the venv was made in, and in an image the servers may live elsewhere.
            argv=lambda root: [
                str(root / ".venv" / "bin" / "python"),
                "-m",
                "mcp_server_git",
                "--repository",
                "/workspace",
            ],
            tools={"read": GIT_READ, "write": GIT_READ | GIT_WRITE},
            workspace=True,
            prepare=(
                ("git", "init", "-q", "/workspace"),
                ("git", "-C", "/workspace", "config", "user.name", "botburrow agent"),
                ("git", "-C", "/workspace", "config", "user.email", "agent@botburrow.invalid"),
            ),
        ),
        Builtin(
            name="postgres",
            service="postgres",
            argv=lambda root: ["node", str(root / "postgres.mjs")],
            tools={"read": None, "write": None},
            credentials={
                "write": ("POSTGRES_URL_WRITE", "POSTGRES_URL"),
                "read": ("POSTGRES_URL_READ", "POSTGRES_URL"),
            },
            credential_order=("write", "read"),
            network=True,
        ),
    )
}
ALIASES = {"brave-search": "brave"}
IN_PROCESS = frozenset({"hub"})
"""Built-in names served by the runner itself, not by a process."""
CREDENTIAL_VARIABLES = tuple(sorted({var for b in BUILTINS.values() for var, _ in b.credentials.values()}))
"""Every setting a built-in server's credential comes from."""


def permissions(grants: tuple[str, ...] | list[str], service: str, known: Mapping[str, object]) -> list[str]:
    """The permissions of ``service`` the grants hold, exactly: ``service:*`` is all of ``known``."""
    held: list[str] = []
    for grant in grants:
        name, sep, permission = grant.partition(":")
        if not sep or name != service:
            continue
        if permission == "*":
            return list(known)
        if permission in known and permission not in held:
            held.append(permission)
    return held

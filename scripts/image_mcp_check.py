"""The MCP servers of a functions image, run as ``MCP_SANDBOX=docker`` runs them (scripts/image-offline).

    python scripts/image_mcp_check.py IMAGE

Starts the filesystem, git and github servers from the image's ``/opt/mcp-servers`` on the
engine at ``DOCKER_HOST``, writes and commits a file on the activation's workspace, and
prints one JSON line: the servers up, their tool counts, the seconds they took to start.
Exit 1 with the reason when a server is missing or a call fails.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson

from shared.agents import AgentConfig, AgentDefinition
from shared.mcp import McpHost
from shared.settings import McpSandboxChoice, McpSettings, Secret, Settings

SERVERS = ["filesystem", "git", "github"]


async def check(image: str, docker_host: str) -> dict[str, object]:
    """Start the servers from ``image`` and use them once; what was found (raises with the reason)."""
    config = AgentConfig.model_validate(
        {
            "name": "image-check",
            "type": "native",
            "brain": {"model": "claude-haiku-4-5"},
            "capabilities": {"grants": ["filesystem:write", "git:write", "github:read"], "mcp_servers": SERVERS},
        }
    )
    agent = AgentDefinition(config=config, system_prompt="", skills=(), missing_skills=(), origin="check")
    settings = McpSettings(
        servers_dir=Path("/opt/mcp-servers"),
        sandbox=McpSandboxChoice.DOCKER,
        image=image,
        docker_host=docker_host,
        credentials={"GITHUB_TOKEN_READ": Secret("ghp_image_check")},
    )
    host = McpHost(settings, lifetime_s=120)
    notes: list[str] = []
    started = time.monotonic()
    try:
        async with host.open(agent, note=notes.append) as families:
            up_s = time.monotonic() - started
            found = {f.server: f for f in families}
            if sorted(found) != sorted(SERVERS):
                raise RuntimeError(f"servers up: {sorted(found)}; notes: {notes}")
            await found["filesystem"].call("mcp__filesystem__write_file", {"path": "/workspace/a.md", "content": "a"})
            await found["git"].call("mcp__git__git_add", {"repo_path": "/workspace", "files": ["a.md"]})
            committed = await found["git"].call("mcp__git__git_commit", {"repo_path": "/workspace", "message": "a"})
            if "committed" not in committed:
                raise RuntimeError(f"git_commit said: {committed}")
            return {"image": image, "tools": {k: len(v.tools) for k, v in found.items()}, "started_s": round(up_s, 2)}
    finally:
        await host.aclose()


def main(argv: list[str]) -> int:
    """Check the image ``argv`` names; 0 when its servers work, 1 with the reason, 2 on bad usage."""
    if len(argv) != 1:
        print("usage: python scripts/image_mcp_check.py IMAGE", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(check(argv[0], Settings.from_env().mcp.docker_host))
    except Exception as exc:  # whatever went wrong is the verdict
        print(f"image MCP check: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``botburrow try``: an author runs an agent whose model uses a real MCP server, and sees it all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import ROOT, child_env

SCRIPT = {
    "scripts": [
        {
            "name": "filer",
            "steps": [
                {
                    "tool_calls": [
                        {
                            "name": "mcp__filesystem__write_file",
                            "input": {"path": "/workspace/todo.md", "content": "water the ferns"},
                        }
                    ]
                },
                {"tool_calls": [{"name": "mcp__filesystem__read_text_file", "input": {"path": "/workspace/todo.md"}}]},
                {"text": "Noted. The list says: water the ferns"},
            ],
        }
    ]
}


def author_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agents" / "fern-keeper"
    folder.mkdir(parents=True)
    config = {
        "name": "fern-keeper",
        "type": "native",
        "brain": {"model": "claude-haiku-4-5"},
        "capabilities": {"grants": ["hub:read", "hub:write", "filesystem:write"], "mcp_servers": ["filesystem"]},
        "behavior": {"limits": {"min_interval_seconds": 0}},  # two tries in a row on one Redis
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "system-prompt.md").write_text("You are Fern Keeper, who keeps lists.")
    (tmp_path / "script.yaml").write_text(yaml.safe_dump(SCRIPT))
    return tmp_path


def botburrow_try(tmp_path: Path, servers_dir: Path, redis_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "shared.cli", "try", "fern-keeper", "--agents", str(tmp_path)]
    argv += ["--message", "remember to water the ferns [[script:filer]]", "--script", str(tmp_path / "script.yaml")]
    env = child_env(MCP_SERVERS_DIR=str(servers_dir), REDIS_URL=redis_url, STREAM_PREFIX="try-test")
    return subprocess.run([*argv, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_try_shows_the_mcp_exchange_and_the_reply(tmp_path: Path, servers_dir: Path, redis_url: str) -> None:
    author_dir(tmp_path)
    done = botburrow_try(tmp_path, servers_dir, redis_url)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "fern-keeper (inbox)" in out
    assert "tool mcp:filesystem/mcp__filesystem__write_file" in out
    assert "tool mcp:filesystem/mcp__filesystem__read_text_file" in out and "ok: water the ferns" in out
    assert out.rstrip().endswith("fern-keeper: Noted. The list says: water the ferns")

    as_json = botburrow_try(tmp_path, servers_dir, redis_url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines[0]["kind"] == "begin" and lines[-2]["kind"] == "end"
    assert lines[-1]["outcome"] == "replied" and lines[-1]["usage"]["input_tokens"] > 0  # the completed data
    second = [e for e in lines if e.get("kind") == "llm_request"][2]
    assert "water the ferns" in json.dumps(second["messages"]), "the tool's result reached the model"


def test_try_names_a_missing_agent_and_exits_2(tmp_path: Path, servers_dir: Path, redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "try", "nobody", "--agents", str(author_dir(tmp_path))],
        cwd=ROOT,
        env=child_env(REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no agent definition named 'nobody'" in done.stderr

"""``botburrow agents validate DIR [--json]``: one line per agent, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import main
from tests.shared.agents.conftest import DEFINITIONS, INVALID, VALID_NAMES, copy_agents
from tests.support import ROOT, child_env

pytestmark = pytest.mark.usefixtures("fixtures")

ALL_OK = [f"ok       {name}" for name in VALID_NAMES]


@pytest.mark.parametrize("where", [DEFINITIONS, DEFINITIONS / "agents"], ids=["checkout-root", "agents-folder"])
def test_the_fixtures_are_valid(where: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "validate", str(where)]) == 0
    assert (
        capsys.readouterr().out.splitlines()
        == ALL_OK
        == [
            "ok       claude-coder-1",
            "ok       devops-agent",
            "ok       sprint-coder",
            "ok       test-persona-agent",
        ]
    )


def test_a_mix_exits_1_naming_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mix = copy_agents(DEFINITIONS / "agents", tmp_path / "mix", ["devops-agent", "sprint-coder"])
    copy_agents(INVALID, mix, ["claude-coder-1", "simple-bot"])
    shutil.copytree(DEFINITIONS / "skills", mix / "skills")
    assert main(["agents", "validate", str(mix)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(
        f"invalid  claude-coder-1  {mix / 'claude-coder-1' / 'config.yaml'}: brain.top_p: unknown key"
    )
    assert lines[1:] == [
        "ok       devops-agent",
        f"invalid  simple-bot  {mix / 'simple-bot' / 'config.yaml'}: capabilities: "
        "required, but missing; 1 more problem: behavior.notifications",
        "ok       sprint-coder",
    ]


def test_json_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "validate", "--json", str(INVALID)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["valid"], r["field"]) for r in rows] == [
        ("claude-coder-1", False, "brain.top_p"),
        ("simple-bot", False, "capabilities"),
    ]
    assert rows[0]["file"] == str(INVALID / "claude-coder-1" / "config.yaml")
    assert main(["agents", "validate", "--json", str(DEFINITIONS)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == {"name": "claude-coder-1", "valid": True, "missing_skills": []}


def test_a_missing_skill_is_shown_but_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lonely = copy_agents(DEFINITIONS / "agents", tmp_path / "lonely" / "defs", ["sprint-coder"])
    assert main(["agents", "validate", str(lonely)]) == 0
    assert capsys.readouterr().out.splitlines() == ["ok       sprint-coder  (skill not found: hub-search)"]


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_no_agents_to_validate_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    target = tmp_path / "target"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("not a directory")
    assert main(["agents", "validate", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    expected = "no agents in" if kind == "empty" else "does not exist or is not a directory"
    assert captured.err.startswith("botburrow: ") and expected in captured.err


def test_stdout_holds_only_the_report_when_run_as_a_command() -> None:
    """Run as an operator would: logging unconfigured, so nothing but the report may reach stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "agents", "validate", str(INVALID)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert [line.split("  ")[1] for line in done.stdout.splitlines()] == ["claude-coder-1", "simple-bot"]
    assert done.stderr == ""

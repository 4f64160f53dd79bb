"""The workspace tools against a real Docker sandbox: policy, confinement, file round trips.

Nothing of the sandbox is mocked; the opener handed to ``WorkspaceTools`` only counts
how often it is called.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from shared.agents import Capabilities, DirectorySource, Shell, load_agent
from shared.llm import ToolCall, ToolResult
from shared.sandbox import PathRefused, WorkspaceTools, check_command, confine
from shared.sandbox._docker import DockerBackend
from shared.sandbox._types import Sandbox, SandboxSpec, SandboxUnavailable
from shared.tools import Toolbox
from tests.support import FIXTURES, require

ALL_TOOLS = {"run_command", "read_file", "list_files", "search_files", "write_file", "edit_file"}
READ_TOOLS = {"read_file", "list_files", "search_files"}
OPEN_SHELL = Shell(enabled=True, timeout_seconds=10)
# the blocked patterns of the claude-coder-1, sprint-coder and devops-agent fixtures
FIXTURE_PATTERNS = ("rm -rf /", "rm -rf", "sudo", "> /dev", "format", "mkfs", "kubectl delete namespace")


class Opener:
    """Hands out one sandbox (or fails), counting the calls; slow enough for concurrent callers to overlap."""

    def __init__(self, sandbox: Sandbox | None = None, *, fail_first: bool = False) -> None:
        self.sandbox = sandbox
        self.fail_first = fail_first
        self.calls = 0

    async def __call__(self) -> Sandbox:
        self.calls += 1
        await asyncio.sleep(0.05)
        if self.fail_first and self.calls == 1:
            raise SandboxUnavailable("the engine is down")
        if self.sandbox is None:
            raise AssertionError("the sandbox was opened, but no tool should have needed it")
        return self.sandbox


def tools_for(
    sandbox: Sandbox | None = None,
    *,
    shell: Shell = OPEN_SHELL,
    grants: Sequence[str] = (),
    max_output_chars: int = 4000,
) -> tuple[WorkspaceTools, Opener]:
    opener = Opener(sandbox)
    capabilities = Capabilities(grants=tuple(grants), shell=shell)
    return WorkspaceTools(capabilities, opener, max_output_chars=max_output_chars), opener


async def run(tools: WorkspaceTools, call: ToolCall) -> ToolResult:
    """One call the way the loop makes it: through a toolbox holding this family."""
    return await Toolbox([tools], max_output_chars=tools.max_output_chars).run(call)


async def call(tools: WorkspaceTools, name: str, **args: Any) -> ToolResult:
    return await run(tools, ToolCall("call-1", name, args))


async def ok(tools: WorkspaceTools, name: str, **args: Any) -> str:
    """The content of a call that must succeed."""
    result = await call(tools, name, **args)
    assert not result.is_error, result.content
    return result.content


@pytest.fixture
async def sandbox(docker_backend: DockerBackend) -> AsyncIterator[Sandbox]:
    box = await docker_backend.start(SandboxSpec())
    try:
        yield box
    finally:
        await box.close()


# --- what is offered -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "grants", "offered"),
    [
        (Shell(), (), set()),
        (Shell(), ("hub:read", "hub:write"), set()),
        (Shell(), ("filesystem:read",), READ_TOOLS),
        (Shell(), ("filesystem:write",), READ_TOOLS | {"write_file", "edit_file"}),
        (Shell(enabled=True), (), ALL_TOOLS),
    ],
)
def test_the_tools_offered_follow_the_capabilities(shell: Shell, grants: tuple[str, ...], offered: set[str]) -> None:
    tools, opener = tools_for(shell=shell, grants=grants)
    assert {s.name for s in tools.specs()} == offered
    assert tools.names == offered
    for spec in tools.specs():
        assert spec.input_schema["type"] == "object" and "required" in spec.input_schema
    assert opener.calls == 0


def test_run_command_takes_an_argv_array_and_names_the_allowed_programs() -> None:
    tools, _ = tools_for(shell=Shell(enabled=True, allowed_commands=("git", "ls"), timeout_seconds=30))
    spec = next(s for s in tools.specs() if s.name == "run_command")
    command = spec.input_schema["properties"]["command"]
    assert (command["type"], command["items"], command["minItems"]) == ("array", {"type": "string"}, 1)
    assert spec.input_schema["required"] == ["command"]
    assert spec.input_schema["properties"]["timeout_seconds"]["maximum"] == 30
    assert "git, ls" in spec.description


async def test_a_tool_not_offered_is_an_error_naming_those_that_are() -> None:
    tools, opener = tools_for(shell=Shell(), grants=("filesystem:read",))
    result = await call(tools, "write_file", path="x", content="y")
    assert result.is_error and result.call_id == "call-1"
    assert "write_file" in result.content and "list_files, read_file, search_files" in result.content
    nothing, _ = tools_for(shell=Shell())
    assert "available: none" in (await call(nothing, "run_command", command=["ls"])).content
    assert opener.calls == 0


# --- the command policy ----------------------------------------------------------------


def test_a_disabled_shell_refuses_every_command() -> None:
    reason = check_command(["ls"], Shell(enabled=False, allowed_commands=("ls",)))
    assert reason is not None and "disabled" in reason


def test_the_allow_list_matches_the_bare_program_name_exactly() -> None:
    shell = Shell(enabled=True, allowed_commands=("git", "npm"))
    assert check_command(["git", "status"], shell) is None
    assert check_command(["npm"], shell) is None
    for argv in (["gitk"], ["Git", "status"], ["git ", "status"], ["./git", "status"], ["/usr/bin/git", "log"]):
        reason = check_command(argv, shell)
        assert reason is not None and "not an allowed command" in reason, argv
    # without an allow-list any program may run, a path included
    assert check_command(["/usr/bin/env", "ls"], Shell(enabled=True)) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["rm", "-rf", "/"],
        ["rm", "-rf", "build"],
        ["sh", "-c", "rm  -rf\t/"],  # whitespace runs collapse before matching
        ["sudo", "ls"],
        ["git", "log", "--format=%H"],  # substrings, whatever the config meant
        ["sh", "-c", "echo x > /dev/sda"],
        ["kubectl", "delete", "namespace", "prod"],
    ],
)
def test_blocked_patterns_are_substrings_of_the_command_line(argv: list[str]) -> None:
    reason = check_command(argv, Shell(enabled=True, blocked_patterns=FIXTURE_PATTERNS))
    assert reason is not None and "blocked pattern" in reason


def test_commands_clear_of_the_patterns_pass() -> None:
    shell = Shell(enabled=True, blocked_patterns=FIXTURE_PATTERNS)
    assert check_command(["rm", "-r", "build"], shell) is None
    assert check_command(["ls", "-la", "/dev"], shell) is None


def test_the_fixture_agents_policies_apply() -> None:
    definitions = FIXTURES / "agent-definitions"
    require(definitions.is_dir(), f"the agent-definition fixtures are missing from {FIXTURES}")
    shell = load_agent(DirectorySource(definitions), "claude-coder-1").config.capabilities.shell
    assert check_command(["git", "status"], shell) is None
    assert "not an allowed command" in (check_command(["bash"], shell) or "")
    assert "blocked pattern 'rm -rf /'" in (check_command(["git", "rm", "-rf", "/"], shell) or "")


def test_malformed_commands_are_refused() -> None:
    assert check_command([], OPEN_SHELL) == "the command must be a non-empty list of strings"
    assert check_command(["ls", 3], OPEN_SHELL) == "the command must be a non-empty list of strings"  # type: ignore[list-item]
    assert check_command([""], OPEN_SHELL) == "the program name is empty"
    assert "NUL" in (check_command(["echo", "a\0b"], OPEN_SHELL) or "")


async def test_a_refused_command_never_runs_and_never_opens_the_sandbox(sandbox: Sandbox) -> None:
    tools, opener = tools_for(sandbox, shell=Shell(enabled=True, allowed_commands=("ls", "sh")))
    refused = await call(tools, "run_command", command=["touch", "/workspace/ran"])
    assert refused.is_error and "not an allowed command" in refused.content
    refused = await call(tools, "run_command", command=["/bin/touch", "/workspace/ran"])
    assert refused.is_error
    assert opener.calls == 0
    blocking, _ = tools_for(sandbox, shell=Shell(enabled=True, blocked_patterns=("touch",)))
    refused = await call(blocking, "run_command", command=["sh", "-c", "touch /workspace/ran"])
    assert refused.is_error and "blocked pattern" in refused.content
    listing = await ok(tools, "run_command", command=["ls", "-a", "/workspace"])
    assert "ran" not in listing
    assert opener.calls == 1


async def test_bad_command_arguments_are_errors_before_the_sandbox_opens() -> None:
    tools, opener = tools_for()
    malformed: list[dict[str, Any]] = [{"command": "ls -la"}, {"command": []}, {"command": ["ls", 1]}, {}]
    for args in malformed:
        result = await run(tools, ToolCall("c", "run_command", args))
        assert result.is_error and "array of strings" in result.content, args
    result = await call(tools, "run_command", command=["ls"], timeout_seconds="5")
    assert result.is_error and "timeout_seconds" in result.content
    result = await call(tools, "read_file", path="a.txt", offset=0)
    assert result.is_error and "offset" in result.content
    assert opener.calls == 0


# --- run_command -----------------------------------------------------------------------


async def test_run_command_reports_exit_code_stdout_and_stderr(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    result = await call(tools, "run_command", command=["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert not result.is_error  # a failing command is information, not a tool error
    assert result.content == "exit code: 3\n--- stdout ---\nout\n--- stderr ---\nerr"
    assert (await ok(tools, "run_command", command=["true"])) == "exit code: 0\n(no output)"


async def test_argv_is_not_interpreted_by_a_shell(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    text = await ok(tools, "run_command", command=["echo", "$(id)", "`id`", ";", "id", "*"])
    assert "$(id) `id` ; id *" in text and "uid=" not in text


async def test_a_command_is_killed_at_its_limit(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    started = time.monotonic()
    text = await ok(tools, "run_command", command=["sleep", "30"], timeout_seconds=1)
    assert time.monotonic() - started < 8
    assert "killed at the 1 s limit" in text
    # the agent's own limit caps whatever the model asks for
    capped, _ = tools_for(sandbox, shell=Shell(enabled=True, timeout_seconds=1))
    started = time.monotonic()
    text = await ok(capped, "run_command", command=["sleep", "30"], timeout_seconds=600)
    assert time.monotonic() - started < 8
    assert "killed at the 1 s limit" in text


# --- files -----------------------------------------------------------------------------


async def test_write_read_edit_list_search_round_trip(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox, shell=Shell(), grants=("filesystem:write",))
    content = "# Todo\n- fix the café bug\n- ship\n"
    wrote = await ok(tools, "write_file", path="notes/deep/todo.md", content=content)
    assert wrote == f"wrote {len(content.encode())} bytes to /workspace/notes/deep/todo.md"
    assert await ok(tools, "read_file", path="notes/deep/todo.md") == content
    assert await ok(tools, "read_file", path="/workspace/notes/deep/../deep/todo.md") == content
    await ok(tools, "edit_file", path="notes/deep/todo.md", old_text="- ship\n", new_text="- ship it\n- rest\n")
    assert await ok(tools, "read_file", path="notes/deep/todo.md") == "# Todo\n- fix the café bug\n- ship it\n- rest\n"
    await ok(tools, "write_file", path="src/a.py", content="a.b = 1\naxb = 2\n-x = 3\n")
    assert (await ok(tools, "list_files")).splitlines() == [
        "notes/",
        "notes/deep/",
        "src/",
        "src/a.py",
    ]
    assert (await ok(tools, "list_files", depth=5)).splitlines()[2] == "notes/deep/todo.md"
    assert (await ok(tools, "list_files", path="src")).splitlines() == ["src/a.py"]
    assert await ok(tools, "search_files", pattern="fix.*bug$") == "notes/deep/todo.md:2:- fix the café bug"
    assert await ok(tools, "search_files", pattern="café", fixed=True) == "notes/deep/todo.md:2:- fix the café bug"
    assert await ok(tools, "search_files", pattern="a.b", fixed=True) == "src/a.py:1:a.b = 1"
    assert (await ok(tools, "search_files", pattern="a.b", path="src")).splitlines() == [
        "src/a.py:1:a.b = 1",
        "src/a.py:2:axb = 2",
    ]
    assert await ok(tools, "search_files", pattern="-x", path="src/a.py") == "src/a.py:3:-x = 3"
    assert "no matches" in await ok(tools, "search_files", pattern="nowhere")
    bad = await call(tools, "search_files", pattern="(")
    assert bad.is_error and "search failed" in bad.content


async def test_file_errors_name_the_path(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    await ok(tools, "write_file", path="dir/a.txt", content="a\n")
    missing = await call(tools, "read_file", path="dir/nope.txt")
    assert missing.is_error and "no such file or directory: /workspace/dir/nope.txt" in missing.content
    for name, args in (("read_file", {"path": "dir"}), ("write_file", {"path": "dir", "content": "x"})):
        result = await call(tools, name, **args)
        assert result.is_error and "/workspace/dir is a directory" in result.content
    result = await call(tools, "list_files", path="dir/a.txt")
    assert result.is_error and "is not a directory" in result.content
    result = await call(tools, "edit_file", path="dir/nope.txt", old_text="a", new_text="b")
    assert result.is_error and "no such file" in result.content


async def test_read_takes_a_range_of_lines(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    await ok(tools, "write_file", path="ten.txt", content="".join(f"line {i}\n" for i in range(1, 11)))
    text = await ok(tools, "read_file", path="ten.txt", offset=3, limit=2)
    assert text == "line 3\nline 4\n[/workspace/ten.txt: lines 3-4 of 10; read on with offset=5]"
    text = await ok(tools, "read_file", path="ten.txt", offset=9)
    assert text == "line 9\nline 10\n[/workspace/ten.txt: lines 9-10 of 10]"
    past = await call(tools, "read_file", path="ten.txt", offset=11)
    assert past.is_error and "past the end" in past.content and "10 lines" in past.content


async def test_edit_needs_exactly_one_occurrence(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    await ok(tools, "write_file", path="e.txt", content="x = 1\nx = 1\n")
    twice = await call(tools, "edit_file", path="e.txt", old_text="x = 1", new_text="x = 2")
    assert twice.is_error and "occurs 2 times" in twice.content
    never = await call(tools, "edit_file", path="e.txt", old_text="y = 1", new_text="y = 2")
    assert never.is_error and "does not occur" in never.content
    assert await ok(tools, "read_file", path="e.txt") == "x = 1\nx = 1\n"


async def test_bytes_that_are_not_utf8_are_shown_replaced_and_kept_by_edits(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    await ok(tools, "run_command", command=["sh", "-c", r"printf '\377\376ok' > bin.dat"])
    assert await ok(tools, "read_file", path="bin.dat") == "\ufffd\ufffdok"
    await ok(tools, "edit_file", path="bin.dat", old_text="ok", new_text="OK")
    assert re.search(r"\b4 bin\.dat", await ok(tools, "run_command", command=["wc", "-c", "bin.dat"]))


# --- confinement -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "/etc/passwd", "/workspace/../etc/passwd", "a/../../x", "/workspacex/a", "", "a\0b", "a\nb", "/"],
)
async def test_paths_leaving_the_workspace_are_refused_before_the_sandbox_opens(path: str) -> None:
    with pytest.raises(PathRefused):
        confine(path)
    tools, opener = tools_for()
    for name, args in (
        ("read_file", {"path": path}),
        ("write_file", {"path": path, "content": "x"}),
        ("list_files", {"path": path}),
        ("search_files", {"pattern": "x", "path": path}),
    ):
        result = await run(tools, ToolCall("c", name, args))
        assert result.is_error, (name, path)
    assert opener.calls == 0


def test_confine_normalises_paths_inside_the_workspace() -> None:
    assert confine("a.txt") == "/workspace/a.txt"
    assert confine(".") == "/workspace"
    assert confine("a/../b/./c/") == "/workspace/b/c"
    assert confine("/workspace") == "/workspace"
    assert confine("//workspace//x") == "/workspace/x"
    assert confine("-rf") == "/workspace/-rf"


async def test_symlinks_cannot_lead_out_of_the_workspace(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox)
    await ok(tools, "write_file", path="a.txt", content="inside\n")
    for target, link in (("/etc", "etc_link"), ("/", "root"), ("/etc/passwd", "pw"), ("/nowhere", "dangle")):
        assert "exit code: 0" in await ok(tools, "run_command", command=["ln", "-s", target, f"/workspace/{link}"])
    await ok(tools, "run_command", command=["ln", "-s", "a.txt", "b.txt"])

    for name, args in (
        ("read_file", {"path": "etc_link/passwd"}),
        ("read_file", {"path": "pw"}),
        ("write_file", {"path": "root/tmp/x", "content": "escaped"}),
        ("write_file", {"path": "etc_link/new/file", "content": "escaped"}),
        ("edit_file", {"path": "pw", "old_text": "root", "new_text": "toor"}),
        ("list_files", {"path": "etc_link"}),
        ("list_files", {"path": "root/tmp"}),
        ("search_files", {"pattern": "root", "path": "root"}),
        ("search_files", {"pattern": "root", "path": "pw"}),
    ):
        result = await call(tools, name, **args)
        assert result.is_error and "path escapes the workspace" in result.content, (name, args, result.content)
    for name, args in (("read_file", {"path": "dangle"}), ("write_file", {"path": "dangle", "content": "x"})):
        result = await call(tools, name, **args)
        assert result.is_error and "dangling symlink" in result.content, (name, result.content)

    # nothing was written out there, and recursion never follows a link out
    assert "exit code: 1" in await ok(tools, "run_command", command=["test", "-e", "/tmp/x"])
    assert "no matches" in await ok(tools, "search_files", pattern="root:")
    listing = (await ok(tools, "list_files", depth=3)).splitlines()
    assert {"etc_link@", "root@", "pw@", "b.txt@", "a.txt"} <= set(listing)
    assert not any(line.startswith(("etc_link/", "root/")) for line in listing)
    # a link that stays inside is followed
    assert await ok(tools, "read_file", path="b.txt") == "inside\n"
    await ok(tools, "edit_file", path="b.txt", old_text="inside", new_text="still inside")
    assert await ok(tools, "read_file", path="a.txt") == "still inside\n"


# --- output size -----------------------------------------------------------------------


async def test_every_output_is_cut_to_the_limit_and_says_so(sandbox: Sandbox) -> None:
    tools, _ = tools_for(sandbox, max_output_chars=300)
    lines = "".join(f"line {i:04d} {'x' * 40}\n" for i in range(1, 101))
    await ok(tools, "write_file", path="long.txt", content=lines)
    text = await ok(tools, "read_file", path="long.txt")
    assert len(text) <= 300 and text.startswith("line 0001") and "read on with offset=" in text
    next_offset = int(re.findall(r"offset=(\d+)", text)[0])
    assert (await ok(tools, "read_file", path="long.txt", offset=next_offset)).startswith(f"line {next_offset:04d}")

    await ok(tools, "write_file", path="one-line.txt", content="y" * 5000)
    text = await ok(tools, "read_file", path="one-line.txt")
    assert len(text) <= 300 and "[line cut]" in text

    text = await ok(tools, "run_command", command=["sh", "-c", "yes out | head -n 2000; echo the-error >&2; exit 2"])
    assert len(text) <= 300 and text.startswith("exit code: 2") and "cut:" in text
    assert "the-error" in text  # stderr keeps room however long stdout is

    text = await ok(tools, "search_files", pattern="line")
    assert len(text) <= 300 and "cut:" in text
    result = await call(tools, "read_file", path="x" * 1000)
    assert result.is_error and len(result.content) <= 300


# --- opening the sandbox ---------------------------------------------------------------


async def test_the_sandbox_opens_once_for_concurrent_first_calls(sandbox: Sandbox) -> None:
    tools, opener = tools_for(sandbox)
    tools.specs()
    assert opener.calls == 0
    results = await asyncio.gather(
        call(tools, "write_file", path="c.txt", content="c\n"),
        call(tools, "list_files"),
        call(tools, "run_command", command=["echo", "hi"]),
        call(tools, "read_file", path="nothing.txt"),
        call(tools, "search_files", pattern="c"),
    )
    assert opener.calls == 1
    assert [r.is_error for r in results] == [False, False, False, True, False]
    assert await ok(tools, "read_file", path="c.txt") == "c\n"
    assert opener.calls == 1


async def test_a_failed_open_propagates_and_the_next_call_opens_again(sandbox: Sandbox) -> None:
    opener = Opener(sandbox, fail_first=True)
    tools = WorkspaceTools(Capabilities(shell=OPEN_SHELL), opener)
    with pytest.raises(SandboxUnavailable):
        await call(tools, "list_files")
    assert "is empty" in await ok(tools, "list_files")
    assert opener.calls == 2

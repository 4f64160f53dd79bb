"""The workspace tools: shell commands and file access in the sandbox, a family of the one tool layer.

``WorkspaceTools`` offers the model up to six tools, as its capabilities allow:

================  ==========================================================
``run_command``   ``shell.enabled``
``read_file``     ``shell.enabled``, or a ``filesystem:read``/``filesystem:write`` grant
``list_files``    (same)
``search_files``  (same)
``write_file``    ``shell.enabled``, or a ``filesystem:write`` grant
``edit_file``     (same)
================  ==========================================================

Commands are argv lists, never shell strings, and ``check_command`` applies the agent's
shell policy (allow-list, blocked patterns) before anything runs. The sandbox is opened
lazily, at the first tool call that needs it, so an activation that never touches its
workspace never starts one.

Paths are checked twice, lexically (``_policy.confine``) and in the sandbox against symlinks
(``_file_scripts``).

Errors (a refused command or path, a missing file, a bad argument, a sandbox that
failed) go back to the model as ``is_error`` results. ``SandboxUnavailable`` (the
backend stopped answering, or could not start the sandbox) propagates: it is transient,
and the caller decides whether the activation is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from shared.agents import Capabilities
from shared.llm import ToolSpec
from shared.tools import ToolInputError, cut
from shared.tools import args as _args

from ._file_scripts import (
    CAT_SCRIPT,
    ESCAPED,
    LIST_SCRIPT,
    MISSING,
    READ_SCRIPT,
    SEARCH_SCRIPT,
    WRITE_SCRIPT,
    decode,
    failure,
    occurrences,
    relative,
    strip_dot,
)
from ._policy import PathRefused, check_command, confine
from ._types import WORKSPACE, ExecResult, Sandbox, SandboxFailed

log = structlog.get_logger(__name__)

READ_GRANTS = frozenset({"filesystem:read", "filesystem:write"})
"""Either grant offers the read tools (``read_file``, ``list_files``, ``search_files``)."""
WRITE_GRANT = "filesystem:write"
"""This grant offers the write tools (``write_file``, ``edit_file``)."""
FILE_TIMEOUT_S = 30.0
"""Wall-clock limit of one file operation in the sandbox."""
MAX_LIST_DEPTH = 5
MAX_ENTRIES = 500
"""``list_files`` shows at most this many entries."""
MAX_MATCHES = 200
"""``search_files`` shows at most this many matching lines."""
MAX_LINE_CHARS = 500
"""A matching line longer than this is cut in ``search_files`` results."""
MIN_OUTPUT_CHARS = 200

_STR = {"type": "string"}
_PATH = {"type": "string", "description": f"relative to the workspace ({WORKSPACE}), or absolute under it"}
_FILE_SPECS = {
    "read_file": ToolSpec(
        "read_file",
        "Read a text file of the workspace. Long files: read a range of lines with offset and limit.",
        {
            "type": "object",
            "properties": {
                "path": _PATH,
                "offset": {"type": "integer", "minimum": 1, "description": "first line to read (1-based)"},
                "limit": {"type": "integer", "minimum": 1, "description": "how many lines to read"},
            },
            "required": ["path"],
        },
    ),
    "list_files": ToolSpec(
        "list_files",
        "List the files under a directory of the workspace (directories end in /, symlinks in @; "
        "the contents of .git directories are left out).",
        {
            "type": "object",
            "properties": {
                "path": {**_PATH, "default": "."},
                "depth": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_DEPTH, "default": 2},
            },
            "required": [],
        },
    ),
    "search_files": ToolSpec(
        "search_files",
        "Search the files under a path of the workspace for lines matching a pattern "
        "(a POSIX extended regular expression, or a literal string with fixed=true); "
        "gives path:line:text. Symlinks and .git directories are skipped.",
        {
            "type": "object",
            "properties": {
                "pattern": _STR,
                "path": {**_PATH, "default": "."},
                "fixed": {"type": "boolean", "default": False, "description": "match the pattern literally"},
            },
            "required": ["pattern"],
        },
    ),
    "write_file": ToolSpec(
        "write_file",
        "Create or replace a file of the workspace with content (missing parent directories are created).",
        {"type": "object", "properties": {"path": _PATH, "content": _STR}, "required": ["path", "content"]},
    ),
    "edit_file": ToolSpec(
        "edit_file",
        "Replace old_text with new_text in a file of the workspace; old_text must occur exactly once "
        "(include enough surrounding lines to make it unique).",
        {
            "type": "object",
            "properties": {"path": _PATH, "old_text": _STR, "new_text": _STR},
            "required": ["path", "old_text", "new_text"],
        },
    ),
}
_READ_TOOLS = ("read_file", "list_files", "search_files")
_WRITE_TOOLS = ("write_file", "edit_file")


class WorkspaceTools:
    """The workspace tools offered to one activation (a ``ToolSet``), on a sandbox opened at first need.

    ``open_sandbox`` is called by the first call that needs the sandbox, and never again
    once it has succeeded: concurrent first calls wait for that one open. A failed open
    raises out of ``run`` and the next call tries again. The sandbox belongs to the
    caller, who closes it. Every result is cut to ``max_output_chars`` characters.
    """

    family = "workspace"

    def __init__(
        self,
        capabilities: Capabilities,
        open_sandbox: Callable[[], Awaitable[Sandbox]],
        *,
        max_output_chars: int = 4000,
    ) -> None:
        if max_output_chars < MIN_OUTPUT_CHARS:
            raise ValueError(f"max_output_chars must be at least {MIN_OUTPUT_CHARS}, got {max_output_chars}")
        self._shell = capabilities.shell
        self._open_sandbox = open_sandbox
        self._max = max_output_chars
        self._sandbox: Sandbox | None = None
        self._opening = asyncio.Lock()
        grants = set(capabilities.grants)
        offered: list[str] = []
        if self._shell.enabled:
            offered.append("run_command")
        if self._shell.enabled or grants & READ_GRANTS:
            offered += _READ_TOOLS
        if self._shell.enabled or WRITE_GRANT in grants:
            offered += _WRITE_TOOLS
        self._specs = [self._command_spec() if name == "run_command" else _FILE_SPECS[name] for name in offered]
        self._names = frozenset(offered)

    def specs(self) -> list[ToolSpec]:
        """The tools the capabilities allow (see the module's table); empty when none."""
        return list(self._specs)

    @property
    def names(self) -> frozenset[str]:
        """The names of the offered tools."""
        return self._names

    @property
    def max_output_chars(self) -> int:
        """The size this set shapes its results to (a command's stdout and stderr share it)."""
        return self._max

    async def call(self, name: str, args: Mapping[str, Any], *, scope: str = "") -> str:
        """Run one workspace tool (``scope`` is not used: nothing here is written to the Hub).

        Raises:
            ToolInputError: bad arguments, a refused command or path, a missing file, a
                sandbox that failed.
            SandboxUnavailable: the sandbox could not be started, or stopped answering.
        """
        if name not in self._names:
            raise ToolInputError(f"{name!r} is not a workspace tool this agent's capabilities offer")
        try:
            return await self._dispatch(name, args)
        except PathRefused as exc:
            raise ToolInputError(str(exc)) from exc
        except SandboxFailed as exc:
            raise ToolInputError(f"the sandbox failed: {exc}") from exc

    async def _sandbox_now(self) -> Sandbox:
        """The sandbox, opened by the first caller to need it."""
        if self._sandbox is None:
            async with self._opening:
                if self._sandbox is None:
                    self._sandbox = await self._open_sandbox()
                    log.debug("sandbox.workspace_opened", sandbox=self._sandbox.id[:12])
        return self._sandbox

    def _command_spec(self) -> ToolSpec:
        shell = self._shell
        allowed = (
            f" Allowed programs: {', '.join(shell.allowed_commands)}."
            if shell.allowed_commands
            else " Any program on PATH may run."
        )
        return ToolSpec(
            "run_command",
            f"Run a program in the workspace ({WORKSPACE}) as an argv list: no shell interprets it "
            f"(for pipes or globs, run ['sh', '-c', '...'] if sh is allowed).{allowed} "
            f"It is killed after timeout_seconds (at most {shell.timeout_seconds}).",
            {
                "type": "object",
                "properties": {
                    "command": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "description": "the program and its arguments, e.g. ['git', 'status']",
                    },
                    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": shell.timeout_seconds},
                },
                "required": ["command"],
            },
        )

    async def _dispatch(self, name: str, args: Mapping[str, Any]) -> str:
        if name == "run_command":
            return await self._run_command(args)
        if name == "read_file":
            return await self._read_file(args)
        if name == "write_file":
            return await self._write_file(args)
        if name == "edit_file":
            return await self._edit_file(args)
        if name == "list_files":
            return await self._list_files(args)
        return await self._search_files(args)

    async def _run_command(self, args: Mapping[str, Any]) -> str:
        argv = _args.strings(args, "command", what="a non-empty array of strings (the program and its arguments)")
        refusal = check_command(argv, self._shell)
        if refusal is not None:
            log.info("sandbox.command_refused", program=argv[0][:100], reason=refusal)
            raise ToolInputError(f"command refused: {refusal}")
        limit = self._shell.timeout_seconds
        requested = _args.integer(args, "timeout_seconds", default=limit, low=1)
        limit = min(requested, limit)
        result = await (await self._sandbox_now()).exec(argv, timeout_s=limit)
        log.info("sandbox.command", program=argv[0][:100], exit_code=result.exit_code, timed_out=result.timed_out)
        return self._command_text(result, limit)

    def _command_text(self, result: ExecResult, limit: int) -> str:
        """Exit code, stdout and stderr (each labelled), stderr kept even when stdout is long."""
        head = f"exit code: {result.exit_code}"
        if result.timed_out:
            head += f" (killed at the {limit} s limit)"
        if result.truncated:
            head += " (output beyond the sandbox's limit was dropped)"
        out, err = decode(result.stdout).rstrip("\n"), decode(result.stderr).rstrip("\n")
        if not out and not err:
            return head + "\n(no output)"
        budget = self._max - len(head) - 2 * len("\n--- stdout ---\n") - 10
        err_room = min(len(err), max(budget // 2, budget - len(out)))
        out_room = budget - err_room
        parts = [head]
        if out:
            parts.append("--- stdout ---\n" + cut(out, out_room))
        if err:
            parts.append("--- stderr ---\n" + cut(err, err_room))
        return "\n".join(parts)

    async def _file_exec(self, script: str, path: str, *extra: str, stdin: bytes | None = None) -> ExecResult:
        """Run the constant ``script`` on the confined ``path`` (``$1``) and ``extra`` (``$2``...) in the sandbox."""
        sandbox = await self._sandbox_now()
        result = await sandbox.exec(["sh", "-c", script, "sh", path, *extra], timeout_s=FILE_TIMEOUT_S, stdin=stdin)
        if result.timed_out:
            raise ToolInputError(f"the operation on {path} took more than {FILE_TIMEOUT_S:.0f} s and was stopped")
        return result

    async def _read_file(self, args: Mapping[str, Any]) -> str:
        path = confine(_args.text(args, "path"))
        offset = _args.integer(args, "offset", default=1, low=1)
        limit = _args.integer(args, "limit", default=0, low=1) if "limit" in args else 0
        result = await self._file_exec(READ_SCRIPT, path, str(offset), str(limit) if limit else "all")
        if result.exit_code != 0:
            raise ToolInputError(failure(result, path))
        count, _, body = result.stdout.partition(b"\n")
        total = int(count or b"0")
        if total == 0:
            return f"{path} is empty"
        if offset > total:
            raise ToolInputError(f"offset {offset} is past the end of {path} ({total} lines)")
        text = decode(body)
        if result.truncated:
            text = text.rsplit("\n", 1)[0] + "\n"  # keep whole lines only
        return self._lines(path, text, offset, total)

    def _lines(self, path: str, text: str, offset: int, total: int) -> str:
        """Lines from ``offset``, as many as fit, with a note of where to go on when some are left."""
        room = self._max - 120
        lines = text.splitlines(keepends=True)
        shown: list[str] = []
        used = 0
        for line in lines:
            if used + len(line) > room:
                if not shown:
                    shown.append(line[:room] + "…[line cut]\n")
                break
            shown.append(line)
            used += len(line)
        last = offset + len(shown) - 1
        body = "".join(shown)
        if offset == 1 and last >= total:
            return body
        if not body.endswith("\n"):
            body += "\n"
        more = f"; read on with offset={last + 1}" if last < total else ""
        return f"{body}[{path}: lines {offset}-{last} of {total}{more}]"

    async def _write_file(self, args: Mapping[str, Any]) -> str:
        path = confine(_args.text(args, "path"))
        content = _args.any_text(args, "content")
        data = content.encode("utf-8", "replace")
        await self._write(path, data)
        return f"wrote {len(data)} bytes to {path}"

    async def _write(self, path: str, data: bytes) -> None:
        result = await self._file_exec(WRITE_SCRIPT, path, stdin=data)
        if result.exit_code != 0:
            raise ToolInputError(failure(result, path))

    async def _edit_file(self, args: Mapping[str, Any]) -> str:
        path = confine(_args.text(args, "path"))
        old, new = _args.text(args, "old_text", blank=True), _args.any_text(args, "new_text")
        result = await self._file_exec(CAT_SCRIPT, path)
        if result.exit_code != 0:
            raise ToolInputError(failure(result, path))
        if result.truncated:
            raise ToolInputError(f"{path} is too large to edit with edit_file; rewrite it with write_file")
        data = result.stdout
        # bytes, so that whatever in the file is not UTF-8 is written back unchanged
        needle = old.encode("utf-8", "replace")
        found = occurrences(data, needle)
        if found != 1:
            detail = "does not occur" if found == 0 else f"occurs {found} times"
            raise ToolInputError(
                f"old_text {detail} in {path}; it must occur exactly once (copy it exactly, with enough context)"
            )
        await self._write(path, data.replace(needle, new.encode("utf-8", "replace"), 1))
        return f"edited {path}: replaced 1 occurrence"

    async def _list_files(self, args: Mapping[str, Any]) -> str:
        path = confine(_args.text(args, "path", default="."))
        depth = _args.integer(args, "depth", default=2, low=1, high=MAX_LIST_DEPTH)
        result = await self._file_exec(LIST_SCRIPT, path, relative(path), str(depth))
        if result.exit_code != 0:
            raise ToolInputError(failure(result, path))
        entries = [strip_dot(line) for line in decode(result.stdout).splitlines() if line]
        if not entries:
            return f"{path} is empty"
        shown = entries[:MAX_ENTRIES]
        more = len(entries) - len(shown)
        tail = f"\n…[{more} more entries not shown; list a subdirectory or a smaller depth]" if more else ""
        return "\n".join(shown) + tail

    async def _search_files(self, args: Mapping[str, Any]) -> str:
        pattern = _args.text(args, "pattern", blank=True)
        path = confine(_args.text(args, "path", default="."))
        fixed = _args.flag(args, "fixed")
        result = await self._file_exec(SEARCH_SCRIPT, path, relative(path), pattern, "-F" if fixed else "-E")
        if result.exit_code in (ESCAPED, MISSING):
            raise ToolInputError(failure(result, path))
        lines = [strip_dot(line) for line in decode(result.stdout).splitlines() if line]
        errors = decode(result.stderr).strip()
        if result.exit_code != 0 and not lines:
            raise ToolInputError(f"search failed: {errors or f'exit {result.exit_code}'}")
        if not lines:
            text = f"no matches for {pattern!r} under {path}"
        else:
            shown = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…" for line in lines]
            text = "\n".join(shown[:MAX_MATCHES])
            more = len(lines) - MAX_MATCHES
            if more > 0 or result.truncated:
                text += f"\n…[{max(more, 0)} more matching lines not shown"
                text += "; more were dropped" if result.truncated else ""
                text += "; narrow the pattern or the path]"
        if errors:
            text += "\n--- stderr ---\n" + cut(errors, 500)
        return text

"""The workspace tools of the agent loop: shell commands and file access in the sandbox.

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

Every path is confined to the workspace twice. ``confine`` normalises it lexically
(relative to ``WORKSPACE``; ``..``, NUL and control characters cannot leave it). Then
each file operation runs *inside* the sandbox as a constant shell script that takes the
path as a positional argument: the script resolves the deepest existing ancestor of the
path with ``readlink -f`` and refuses (exit ``ESCAPED``) unless it is the workspace or
under it, so a symlink cannot lead a file tool out of the workspace. No script is ever
built from the model's input. The scripts use only what both busybox (the Docker image)
and GNU coreutils/findutils/grep (the bubblewrap backend, on the host's tools) accept.

The in-sandbox check and the operation are two steps of one script; a process the
model left running in the background could swap a directory for a symlink between
them. That needs the shell, which already reaches everything the sandbox can: the check
guards the file tools of an agent without one (and against symlinks that arrive with
the workspace's content), not against an agent with a shell.

Errors (a refused command or path, a missing file, a bad argument, a sandbox that
failed) go back to the model as ``is_error`` results. ``SandboxUnavailable`` (the
backend stopped answering, or could not start the sandbox) propagates: it is transient,
and the caller decides whether the activation is retried.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from shared.agents import Capabilities, Shell
from shared.llm import ToolCall, ToolResult, ToolSpec

from ._types import WORKSPACE, ExecResult, Sandbox, SandboxError, SandboxFailed

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

ESCAPED = 97
"""Exit code of a file script whose path resolves outside the workspace (or is a dangling link)."""
MISSING = 96
"""Exit code of a file script whose path does not exist."""
IS_DIRECTORY = 95
NOT_DIRECTORY = 94
NOT_REGULAR = 93

# Shared head of every file script. $1 is the confined absolute path. Walk up to the
# deepest ancestor that exists (or is a symlink), refuse a dangling symlink, resolve the
# rest with `readlink -f` and refuse anything not at or under the workspace. `${a%/*}`
# rather than `dirname`, and the `/` sentinel after readlink, so that no trailing newline
# of a file name is lost to command substitution.
_CHECK = f"""p=$1
a=$p
while [ ! -e "$a" ] && [ ! -L "$a" ]; do a=${{a%/*}}; [ -n "$a" ] || a=/; done
if [ ! -e "$a" ]; then echo "$a is a dangling symlink" >&2; exit {ESCAPED}; fi
r=$(readlink -f "$a" && echo /) || {{ echo "cannot resolve $a" >&2; exit {ESCAPED}; }}
r=${{r%?/}}
case $r in {WORKSPACE}|{WORKSPACE}/*) ;; *) echo "$a resolves to $r" >&2; exit {ESCAPED};; esac
"""
_READ_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
[ -d "$p" ] && exit {IS_DIRECTORY}
[ -f "$p" ] || exit {NOT_REGULAR}
n=$(sed -n '$=' "$p") || exit 1
echo "${{n:-0}}"
if [ "$3" = all ]; then exec tail -n "+$2" "$p"; fi
tail -n "+$2" "$p" | head -n "$3"
"""
)
"""``sh -c _READ_SCRIPT sh PATH FIRST COUNT``: the line count, then COUNT lines (``all``) from FIRST.

``tail``/``head`` rather than ``sed``: busybox ``sed`` ends an unterminated last line.
"""
_CAT_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
[ -d "$p" ] && exit {IS_DIRECTORY}
[ -f "$p" ] || exit {NOT_REGULAR}
exec cat "$p"
"""
)
"""``sh -c _CAT_SCRIPT sh PATH``: the whole file."""
_WRITE_SCRIPT = (
    _CHECK
    + f"""[ -d "$p" ] && exit {IS_DIRECTORY}
mkdir -p "${{p%/*}}" || exit 1
cat > "$p"
"""
)
"""``sh -c _WRITE_SCRIPT sh PATH`` with the content on stdin; parent directories are created."""
_LIST_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
[ -d "$p" ] || exit {NOT_DIRECTORY}
cd {WORKSPACE} || exit 1
find -H "$2" -mindepth 1 -maxdepth "$3" -name .git -prune -print -o -print | sort | while IFS= read -r f; do
  if [ -L "$f" ]; then echo "$f@"; elif [ -d "$f" ]; then echo "$f/"; else echo "$f"; fi
done
"""
)
"""``sh -c _LIST_SCRIPT sh PATH ./REL DEPTH``: entries under REL (from the workspace), marked ``/`` and ``@``."""
_SEARCH_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
cd {WORKSPACE} || exit 1
exec find -H "$2" -name .git -prune -o -type f -exec sh -c 'grep "$@"; [ $? -le 1 ]' sh -nH "$4" -e "$3" -- {{}} +
"""
)
"""``sh -c _SEARCH_SCRIPT sh PATH ./REL PATTERN -E|-F``: matching lines of regular files.

``find`` lists the files (it never follows a symlink below REL: busybox ``grep -r``
follows links to files, even out of the workspace); the inner ``sh`` turns grep's
"no match" (1) into success, so a non-zero exit is a real error.
"""

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


class PathRefused(SandboxError):
    """A path the file tools will not touch: empty, with a NUL or control character, or outside the workspace."""


class ToolInputError(Exception):
    """A tool call that cannot run (bad arguments, a refusal, a failure); the message goes back to the model."""


def confine(path: str) -> str:
    """``path`` as a normalised absolute path in the workspace (lexically: symlinks are the sandbox's check).

    A relative path is taken from ``WORKSPACE``; an absolute one must be ``WORKSPACE`` or
    under it. ``..`` is resolved lexically and may not leave the workspace.

    Raises:
        PathRefused: ``path`` is empty, holds a NUL or another control character, or
            leaves the workspace.
    """
    if not isinstance(path, str) or not path:
        raise PathRefused("the path is empty")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise PathRefused(f"the path {path!r} holds a NUL or control character")
    absolute = posixpath.normpath(path if path.startswith("/") else f"{WORKSPACE}/{path}")
    if absolute.startswith("//"):  # normpath keeps a leading "//" (POSIX leaves it implementation-defined)
        absolute = "/" + absolute.lstrip("/")
    if absolute != WORKSPACE and not absolute.startswith(WORKSPACE + "/"):
        raise PathRefused(f"path escapes the workspace: {path!r} is outside {WORKSPACE}")
    return absolute


def check_command(argv: Sequence[str], shell: Shell) -> str | None:
    """Why the policy ``shell`` refuses ``argv``, or ``None`` when it may run.

    Refused: a disabled shell; an empty argv or a NUL byte; when ``allowed_commands`` is
    not empty, an ``argv[0]`` that is not exactly one of them (a path such as
    ``/usr/bin/git`` or ``./git`` never is); any ``blocked_patterns`` entry that occurs in
    the command line (``" ".join(argv)``, also with runs of whitespace collapsed) or in
    one argument. Patterns are substrings, not a security boundary: the sandbox is.
    """
    if not shell.enabled:
        return "shell commands are disabled for this agent"
    if not argv or not all(isinstance(a, str) for a in argv):
        return "the command must be a non-empty list of strings"
    if not argv[0]:
        return "the program name is empty"
    if any("\0" in a for a in argv):
        return "the command holds a NUL byte"
    program = argv[0]
    if shell.allowed_commands and ("/" in program or program not in shell.allowed_commands):
        allowed = ", ".join(shell.allowed_commands)
        return f"{program!r} is not an allowed command (allowed: {allowed}; give the bare program name)"
    line = " ".join(argv)
    collapsed = _collapse(line)
    for pattern in shell.blocked_patterns:
        if not pattern.strip():
            continue
        if pattern in line or _collapse(pattern) in collapsed or any(pattern in arg for arg in argv):
            return f"the command matches the blocked pattern {pattern!r}"
    return None


class WorkspaceTools:
    """The workspace tools offered to one activation, on a sandbox opened at first need.

    ``open_sandbox`` is called by the first call that needs the sandbox, and never again
    once it has succeeded: concurrent first calls wait for that one open. A failed open
    raises out of ``run`` and the next call tries again. The sandbox belongs to the
    caller, who closes it. Every result is cut to ``max_output_chars`` characters.
    """

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

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one tool call; failures come back as ``is_error`` results.

        Raises:
            SandboxUnavailable: the sandbox could not be started, or stopped answering.
        """
        try:
            if call.name not in self._names:
                available = ", ".join(sorted(self._names)) or "none"
                raise ToolInputError(f"unknown tool {call.name!r}; available: {available}")
            text = await self._dispatch(call.name, call.input)
            is_error = False
        except (ToolInputError, PathRefused) as exc:
            text, is_error = f"error: {exc}", True
        except SandboxFailed as exc:
            text, is_error = f"error: the sandbox failed: {exc}", True
        log.debug("sandbox.tool", tool=call.name, is_error=is_error, chars=len(text))
        return ToolResult(call.id, _cut(text, self._max), is_error=is_error)

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

    async def _dispatch(self, name: str, args: dict[str, Any]) -> str:
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

    async def _run_command(self, args: dict[str, Any]) -> str:
        argv = args.get("command")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ToolInputError("command is required: a non-empty array of strings (the program and its arguments)")
        refusal = check_command(argv, self._shell)
        if refusal is not None:
            log.info("sandbox.command_refused", program=argv[0][:100], reason=refusal)
            raise ToolInputError(f"command refused: {refusal}")
        limit = self._shell.timeout_seconds
        requested = _int(args, "timeout_seconds", default=limit, low=1)
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
        out, err = _decode(result.stdout).rstrip("\n"), _decode(result.stderr).rstrip("\n")
        if not out and not err:
            return head + "\n(no output)"
        budget = self._max - len(head) - 2 * len("\n--- stdout ---\n") - 10
        err_room = min(len(err), max(budget // 2, budget - len(out)))
        out_room = budget - err_room
        parts = [head]
        if out:
            parts.append("--- stdout ---\n" + _cut(out, out_room))
        if err:
            parts.append("--- stderr ---\n" + _cut(err, err_room))
        return "\n".join(parts)

    async def _file_exec(self, script: str, path: str, *extra: str, stdin: bytes | None = None) -> ExecResult:
        """Run the constant ``script`` on the confined ``path`` (``$1``) and ``extra`` (``$2``...) in the sandbox."""
        sandbox = await self._sandbox_now()
        result = await sandbox.exec(["sh", "-c", script, "sh", path, *extra], timeout_s=FILE_TIMEOUT_S, stdin=stdin)
        if result.timed_out:
            raise ToolInputError(f"the operation on {path} took more than {FILE_TIMEOUT_S:.0f} s and was stopped")
        return result

    async def _read_file(self, args: dict[str, Any]) -> str:
        path = confine(_text(args, "path"))
        offset = _int(args, "offset", default=1, low=1)
        limit = _int(args, "limit", default=0, low=1) if "limit" in args else 0
        result = await self._file_exec(_READ_SCRIPT, path, str(offset), str(limit) if limit else "all")
        if result.exit_code != 0:
            raise ToolInputError(_failure(result, path))
        count, _, body = result.stdout.partition(b"\n")
        total = int(count or b"0")
        if total == 0:
            return f"{path} is empty"
        if offset > total:
            raise ToolInputError(f"offset {offset} is past the end of {path} ({total} lines)")
        text = _decode(body)
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

    async def _write_file(self, args: dict[str, Any]) -> str:
        path = confine(_text(args, "path"))
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolInputError("content is required (a string)")
        data = content.encode("utf-8", "replace")
        await self._write(path, data)
        return f"wrote {len(data)} bytes to {path}"

    async def _write(self, path: str, data: bytes) -> None:
        result = await self._file_exec(_WRITE_SCRIPT, path, stdin=data)
        if result.exit_code != 0:
            raise ToolInputError(_failure(result, path))

    async def _edit_file(self, args: dict[str, Any]) -> str:
        path = confine(_text(args, "path"))
        old, new = args.get("old_text"), args.get("new_text")
        if not isinstance(old, str) or not old:
            raise ToolInputError("old_text is required (a non-empty string)")
        if not isinstance(new, str):
            raise ToolInputError("new_text is required (a string)")
        result = await self._file_exec(_CAT_SCRIPT, path)
        if result.exit_code != 0:
            raise ToolInputError(_failure(result, path))
        if result.truncated:
            raise ToolInputError(f"{path} is too large to edit with edit_file; rewrite it with write_file")
        data = result.stdout
        # bytes, so that whatever in the file is not UTF-8 is written back unchanged
        needle = old.encode("utf-8", "replace")
        found = _occurrences(data, needle)
        if found != 1:
            detail = "does not occur" if found == 0 else f"occurs {found} times"
            raise ToolInputError(
                f"old_text {detail} in {path}; it must occur exactly once (copy it exactly, with enough context)"
            )
        await self._write(path, data.replace(needle, new.encode("utf-8", "replace"), 1))
        return f"edited {path}: replaced 1 occurrence"

    async def _list_files(self, args: dict[str, Any]) -> str:
        path = confine(_text(args, "path", default="."))
        depth = _int(args, "depth", default=2, low=1, high=MAX_LIST_DEPTH)
        result = await self._file_exec(_LIST_SCRIPT, path, _relative(path), str(depth))
        if result.exit_code != 0:
            raise ToolInputError(_failure(result, path))
        entries = [_strip_dot(line) for line in _decode(result.stdout).splitlines() if line]
        if not entries:
            return f"{path} is empty"
        shown = entries[:MAX_ENTRIES]
        more = len(entries) - len(shown)
        tail = f"\n…[{more} more entries not shown; list a subdirectory or a smaller depth]" if more else ""
        return "\n".join(shown) + tail

    async def _search_files(self, args: dict[str, Any]) -> str:
        pattern = args.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ToolInputError("pattern is required (a non-empty string)")
        path = confine(_text(args, "path", default="."))
        fixed = args.get("fixed", False)
        if not isinstance(fixed, bool):
            raise ToolInputError("fixed must be true or false")
        result = await self._file_exec(_SEARCH_SCRIPT, path, _relative(path), pattern, "-F" if fixed else "-E")
        if result.exit_code in (ESCAPED, MISSING):
            raise ToolInputError(_failure(result, path))
        lines = [_strip_dot(line) for line in _decode(result.stdout).splitlines() if line]
        errors = _decode(result.stderr).strip()
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
            text += "\n--- stderr ---\n" + _cut(errors, 500)
        return text


def _cut(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, the cut said at its end."""
    if len(text) <= max_chars:
        return text
    note = f"\n…[cut: {len(text)} characters in all]"
    if max_chars <= len(note):
        return text[: max(max_chars, 0)]
    return text[: max_chars - len(note)] + note


def _failure(result: ExecResult, path: str) -> str:
    """What a file script's non-zero exit means, for the model."""
    said = _decode(result.stderr).strip()[-500:]
    code = result.exit_code
    if code == ESCAPED:
        detail = said if said.startswith(path) else f"{path} ({said})" if said else path
        return f"path escapes the workspace: {detail}"
    if code == MISSING:
        return f"no such file or directory: {path}"
    if code == IS_DIRECTORY:
        return f"{path} is a directory"
    if code == NOT_DIRECTORY:
        return f"{path} is not a directory"
    if code == NOT_REGULAR:
        return f"{path} is not a regular file"
    return f"failed on {path}: {said or f'exit {code}'}"


def _relative(path: str) -> str:
    """A confined path as an operand from the workspace, always starting ``./`` (never an option)."""
    return "." if path == WORKSPACE else "./" + path[len(WORKSPACE) + 1 :]


def _strip_dot(line: str) -> str:
    return line[2:] if line.startswith("./") else line


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _occurrences(data: bytes, needle: bytes) -> int:
    """How many times ``needle`` occurs in ``data``, overlapping occurrences included."""
    count, at = 0, data.find(needle)
    while at != -1:
        count += 1
        at = data.find(needle, at + 1)
    return count


def _text(args: dict[str, Any], name: str, *, default: str | None = None) -> str:
    value = args.get(name)
    if value is None:
        value = default
    if not isinstance(value, str) or not value:
        raise ToolInputError(f"{name} is required (a non-empty string)")
    return value


def _int(args: dict[str, Any], name: str, *, default: int, low: int, high: int | None = None) -> int:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ToolInputError(f"{name} must be an integer {bound}")
    return value

"""The constant shell scripts the file tools run in the sandbox, and what their exit codes mean.

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
"""

from __future__ import annotations

from ._types import WORKSPACE, ExecResult

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
READ_SCRIPT = (
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
"""``sh -c READ_SCRIPT sh PATH FIRST COUNT``: the line count, then COUNT lines (``all``) from FIRST.

``tail``/``head`` rather than ``sed``: busybox ``sed`` ends an unterminated last line.
"""
CAT_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
[ -d "$p" ] && exit {IS_DIRECTORY}
[ -f "$p" ] || exit {NOT_REGULAR}
exec cat "$p"
"""
)
"""``sh -c CAT_SCRIPT sh PATH``: the whole file."""
WRITE_SCRIPT = (
    _CHECK
    + f"""[ -d "$p" ] && exit {IS_DIRECTORY}
mkdir -p "${{p%/*}}" || exit 1
cat > "$p"
"""
)
"""``sh -c WRITE_SCRIPT sh PATH`` with the content on stdin; parent directories are created."""
LIST_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
[ -d "$p" ] || exit {NOT_DIRECTORY}
cd {WORKSPACE} || exit 1
find -H "$2" -mindepth 1 -maxdepth "$3" -name .git -prune -print -o -print | sort | while IFS= read -r f; do
  if [ -L "$f" ]; then echo "$f@"; elif [ -d "$f" ]; then echo "$f/"; else echo "$f"; fi
done
"""
)
"""``sh -c LIST_SCRIPT sh PATH ./REL DEPTH``: entries under REL (from the workspace), marked ``/`` and ``@``."""
SEARCH_SCRIPT = (
    _CHECK
    + f"""[ -e "$p" ] || exit {MISSING}
cd {WORKSPACE} || exit 1
exec find -H "$2" -name .git -prune -o -type f -exec sh -c 'grep "$@"; [ $? -le 1 ]' sh -nH "$4" -e "$3" -- {{}} +
"""
)
"""``sh -c SEARCH_SCRIPT sh PATH ./REL PATTERN -E|-F``: matching lines of regular files.

``find`` lists the files (it never follows a symlink below REL: busybox ``grep -r``
follows links to files, even out of the workspace); the inner ``sh`` turns grep's
"no match" (1) into success, so a non-zero exit is a real error.
"""


def failure(result: ExecResult, path: str) -> str:
    """What a file script's non-zero exit means, for the model."""
    said = decode(result.stderr).strip()[-500:]
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


def relative(path: str) -> str:
    """A confined path as an operand from the workspace, always starting ``./`` (never an option)."""
    return "." if path == WORKSPACE else "./" + path[len(WORKSPACE) + 1 :]


def strip_dot(line: str) -> str:
    return line[2:] if line.startswith("./") else line


def decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def occurrences(data: bytes, needle: bytes) -> int:
    """How many times ``needle`` occurs in ``data``, overlapping occurrences included."""
    count, at = 0, data.find(needle)
    while at != -1:
        count += 1
        at = data.find(needle, at + 1)
    return count

"""Agent names and logical paths: checked before anything touches a disk or a bucket.

A name comes from outside (an event's ``agent_name``, a URL, a command line), so it is
checked against schema v1's pattern before it becomes part of a path or an object key:
``../etc``, ``a/b``, ``/abs`` or ``Admin`` never reach ``open()`` or ``GetObject``.
"""

from __future__ import annotations

import re

NAME_RULE = "3 to 50 characters of a-z, 0-9 and '-'"

# ``fullmatch`` rather than ``^...$``: in Python ``$`` also matches before a trailing newline.
_NAME = re.compile(r"[a-z0-9-]{3,50}")
_SKILL = re.compile(r"[a-z0-9-]{2,50}")


def is_agent_name(name: object) -> bool:
    """Whether ``name`` is a possible agent name under schema v1 (``^[a-z0-9-]+$``, 3 to 50 long)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def is_skill_name(name: object) -> bool:
    """Whether ``name`` is a possible skill name under the skill schema (2 to 50 long)."""
    return isinstance(name, str) and _SKILL.fullmatch(name) is not None


def split_path(path: str) -> list[str]:
    """The segments of a logical path such as ``agents/<name>/config.yaml``.

    Sources call this before mapping a path to a file or an object key: a segment
    that is empty, ``.``, ``..``, or holds a backslash or NUL is refused, so a path can
    never climb out of the definitions root, whatever produced it.

    Raises:
        ValueError: the path is absolute, empty, or has an unsafe segment.
    """
    parts = path.split("/")
    if not path or any(p in {"", ".", ".."} or "\\" in p or "\0" in p for p in parts):
        raise ValueError(f"unsafe path {path!r}")
    return parts


def agent_path(name: str, file: str) -> str:
    """The logical path of one of an agent's files: ``agents/<name>/<file>``."""
    return f"agents/{name}/{file}"


def skill_path(name: str) -> str:
    """The logical path of a skill's document: ``skills/<name>/SKILL.md``."""
    return f"skills/{name}/SKILL.md"

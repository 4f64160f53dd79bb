"""Parsers of single variables: each returns the value or raises ``ValueError`` saying what it should be."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shared.events import Priority

from ._models import SyncSource, SyncSourceKind

N = TypeVar("N", int, float)


def bounded(convert: Callable[[str], N], minimum: N, *, kind: str) -> Callable[[str], N]:
    def parse(raw: str) -> N:
        try:
            value = convert(raw)
        except ValueError:
            raise ValueError(f"must be {kind}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum:g}")
        return value

    return parse


def parse_int(minimum: int) -> Callable[[str], int]:
    return bounded(int, minimum, kind="a whole number")


def parse_float(minimum: float) -> Callable[[str], float]:
    return bounded(float, minimum, kind="a number")


def parse_name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", raw):
        raise ValueError("use letters, digits and _ . : - only")
    return raw


def parse_names(raw: str) -> tuple[str, ...]:
    """``GITHUB_TOKEN,BRAVE_API_KEY``: environment variable names."""
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)]
    if bad:
        raise ValueError(f"not variable names: {', '.join(bad)}")
    return names


def parse_docker_host(raw: str) -> str:
    if not re.match(r"^(unix|tcp|ssh|npipe)://", raw):
        raise ValueError("must start with unix://, tcp://, ssh:// or npipe://")
    return raw


def parse_image(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", raw):
        raise ValueError("is not an image reference")
    return raw


def parse_redis_url(raw: str) -> str:
    if not re.match(r"^(redis|rediss|unix)://", raw):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def parse_http_url(raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ValueError("must be an http:// or https:// URL")
    return raw.rstrip("/")


def parse_dir(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ValueError("is not a directory")
    return path


def parse_absolute(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ValueError("must be an absolute path")
    return path


def parse_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ValueError("is not a readable file")
    return path


def parse_bucket(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw):
        raise ValueError("is not a valid bucket name")
    return raw


def parse_prefix(raw: str) -> str:
    if raw.startswith("/") or ".." in raw.split("/"):
        raise ValueError("must be a relative key prefix without '..'")
    return raw if raw.endswith("/") else raw + "/"


def parse_import_path(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", raw):
        raise ValueError("must be module.path:attribute")
    return raw


E = TypeVar("E", bound=enum.StrEnum)


def parse_choice(kind: type[E]) -> Callable[[str], E]:
    def parse(raw: str) -> E:
        try:
            return kind(raw.lower())
        except ValueError:
            raise ValueError(f"must be one of {', '.join(m.value for m in kind)}") from None

    return parse


def parse_level(raw: str) -> str:
    if raw.lower() not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be debug, info, warning or error")
    return raw.lower()


def parse_format(raw: str) -> str:
    if raw.lower() not in {"json", "console"}:
        raise ValueError("must be json or console")
    return raw.lower()


def parse_weights(raw: str) -> dict[Priority, int]:
    """``high=6,normal=3,low=1``."""
    weights: dict[Priority, int] = {}
    for part in raw.split(","):
        name, sep, value = part.partition("=")
        try:
            priority = Priority(name.strip())
        except ValueError:
            raise ValueError(f"unknown priority {name.strip()!r} (use high, normal, low)") from None
        if not sep or not value.strip().isdigit():
            raise ValueError(f"weight of {priority.value} must be a whole number")
        weights[priority] = int(value)
    if set(weights) != set(Priority):
        raise ValueError("give a weight for each of high, normal and low")
    return weights


_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_GIT_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE = re.compile(r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^/\s]")


def parse_sync_sources(raw: str) -> tuple[SyncSource, ...]:
    """``github:owner/repo@main, https://git.example/defs.git, /srv/defs@v2``: a comma list.

    A git URL's ``@ref`` is the text after the last ``@`` of its path, so neither a user
    (``git@host:o/r.git``, ``https://user:token@host/o/r``) is taken for one, nor is a ref
    with slashes cut short (``git@host:o/r.git@release/1``).
    """
    sources: list[SyncSource] = []
    for i, item in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not item:
            continue
        if item.startswith("github:"):
            repo, _, ref = item.removeprefix("github:").partition("@")
            if not _REPO.fullmatch(repo):
                raise ValueError(f"item {i}: github: must be followed by owner/repo")
            sources.append(SyncSource(kind=SyncSourceKind.GITHUB, location=repo, ref=_ref(ref, i)))
            continue
        location, ref = _split_ref(item)
        if not (location.startswith(_GIT_SCHEMES) or location.startswith("/") or _SCP_LIKE.match(location)):
            raise ValueError(
                f"item {i}: not github:owner/repo, a git URL (https://, ssh://, file://...) or an absolute path"
            )
        if any(c.isspace() for c in location):
            raise ValueError(f"item {i}: a git URL has no spaces")
        sources.append(SyncSource(kind=SyncSourceKind.GIT, location=location, ref=_ref(ref, i)))
    return tuple(sources)


def _split_ref(item: str) -> tuple[str, str]:
    """``(url, ref)``: the ref after the last ``@`` of the path part (after ``host/``, ``host:``)."""
    if "://" in item:
        slash = item.find("/", item.index("://") + 3)
        path_at = len(item) if slash < 0 else slash
    elif _SCP_LIKE.match(item):
        path_at = item.index(":")
    else:
        path_at = 0
    at = item.rfind("@", path_at)
    return (item[:at], item[at + 1 :]) if at > path_at else (item, "")


def _ref(raw: str, item: int) -> str | None:
    if not raw:
        return None
    if not _REF.fullmatch(raw) or ".." in raw:
        raise ValueError(f"item {item}: @{raw} is not a branch, tag or commit name")
    return raw

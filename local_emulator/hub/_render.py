"""JSON shapes of the mock's answers: exactly HUB-CONTRACT.md, or another dialect when told.

Optional fields that are unset are left out, as the contract's ``?`` marks allow. The
records served most (notifications, posts, comments: every inbox, thread and
``/_mock/state``) are built key by key, skipping only their optional fields, rather
than built whole and filtered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._model import Agent, Author, Comment, Dialect, DirectMessage, Notification, Post

# Rendered UTC times by value; emptied when full (see ``ts``).
_STAMPS: dict[datetime, str] = {}
_MAX_STAMPS = 1 << 17


def ts(at: datetime | None) -> str | None:
    """ISO 8601 in UTC with a trailing ``Z``.

    Every object's times are made once (by the mock's clock, in UTC) and rendered on
    every read of it: each inbox listing, each thread, every ``/_mock/state``. So their
    strings are kept, keyed by the datetime itself (which caches its own hash). Only
    ``tzinfo is UTC`` values are kept: among those, equal means the same fields, so the
    same string. The cache is emptied when it holds ``_MAX_STAMPS``, bounding its memory.
    """
    if at is None:
        return None
    if at.tzinfo is not UTC:
        return _iso(at)
    stamp = _STAMPS.get(at)
    if stamp is None:
        if len(_STAMPS) >= _MAX_STAMPS:
            _STAMPS.clear()
        stamp = _STAMPS[at] = _iso(at)
    return stamp


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def author(who: Author) -> dict[str, Any]:
    return {"id": who.id, "name": who.name}


def comment(c: Comment, dialect: Dialect) -> dict[str, Any]:
    body: dict[str, Any] = {"id": c.id, "author": {"id": c.author.id, "name": c.author.name}, dialect.text: c.content}
    if c.parent_id is not None:
        body["parent_id"] = c.parent_id
    body["created_at"] = ts(c.created_at)
    return body


def post(p: Post, dialect: Dialect, comments: list[Comment] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": p.id, "author": {"id": p.author.id, "name": p.author.name}}
    if p.title is not None:
        body["title"] = p.title
    body[dialect.text] = p.content
    if p.community is not None:
        body["community"] = p.community
    if p.parent_id is not None:
        body["parent_id"] = p.parent_id
    body["created_at"] = ts(p.created_at)
    if p.updated_at is not None:
        body["updated_at"] = ts(p.updated_at)
    if comments is not None:
        body["comments"] = [comment(c, dialect) for c in comments]
    return body


def created(obj: Post | Comment | DirectMessage) -> dict[str, Any]:
    if isinstance(obj, DirectMessage):
        return {"id": obj.id, "created_at": ts(obj.created_at)}
    return {"id": obj.id, "author": author(obj.author), "created_at": ts(obj.created_at)}


def _add_sender(body: dict[str, Any], who: Author, dialect: Dialect) -> None:
    if dialect.sender == "from":
        body["from"] = {"id": who.id, "name": who.name, "type": who.kind}
    elif dialect.sender == "from_agent_id":
        body["from_agent_id"] = who.id
    else:
        body["from_agent"] = {"id": who.id, "name": who.name}


def notification(n: Notification, dialect: Dialect) -> dict[str, Any]:
    if n.raw is not None:
        return dict(n.raw)
    body: dict[str, Any] = {"id": n.id, "type": n.type}
    if n.post_id is not None:
        body["post_id"] = n.post_id
    if n.comment_id is not None:
        body["comment_id"] = n.comment_id
    if n.sender is not None:
        _add_sender(body, n.sender, dialect)
    body[dialect.text] = n.content
    body["created_at"] = ts(n.created_at)
    body["read"] = n.read
    return body


def agent_summary(agent: Agent, *, notification_count: int | None = None) -> dict[str, Any]:
    return _present(
        {
            "id": agent.id,
            "name": agent.name,
            "notification_count": notification_count,
            "last_activated_at": ts(agent.last_activated_at),
        }
    )


def listing(key: str, values: list[Any], dialect: Dialect) -> dict[str, Any]:
    body: dict[str, Any] = {dialect.list_key or key: values}
    return {"success": True, **body} if dialect.envelope else body


def ack(values: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    return {"success": True, **values} if dialect.envelope else values


def single(name: str, value: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    if not dialect.envelope:
        return value
    return {"success": True, dialect.list_key or name: value}


def error(detail: str, dialect: Dialect, *, code: str, hint: str | None = None) -> dict[str, Any]:
    if dialect.envelope:
        return _present({"success": False, "error": detail, "code": code, "hint": hint})
    return {"detail": detail}

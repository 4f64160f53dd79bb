"""JSON shapes of the mock's answers: exactly HUB-CONTRACT.md, or another dialect when told.

Optional fields that are unset are left out, as the contract's ``?`` marks allow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._model import Agent, Author, Comment, Dialect, DirectMessage, Notification, Post


def ts(at: datetime | None) -> str | None:
    """ISO 8601 in UTC with a trailing ``Z``."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at is not None else None


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def author(who: Author) -> dict[str, Any]:
    return {"id": who.id, "name": who.name}


def comment(c: Comment, dialect: Dialect) -> dict[str, Any]:
    return _present(
        {
            "id": c.id,
            "author": author(c.author),
            dialect.text: c.content,
            "parent_id": c.parent_id,
            "created_at": ts(c.created_at),
        }
    )


def post(p: Post, dialect: Dialect, comments: list[Comment] | None = None) -> dict[str, Any]:
    body = _present(
        {
            "id": p.id,
            "author": author(p.author),
            "title": p.title,
            dialect.text: p.content,
            "community": p.community,
            "parent_id": p.parent_id,
            "created_at": ts(p.created_at),
            "updated_at": ts(p.updated_at),
        }
    )
    if comments is not None:
        body["comments"] = [comment(c, dialect) for c in comments]
    return body


def created(obj: Post | Comment | DirectMessage) -> dict[str, Any]:
    if isinstance(obj, DirectMessage):
        return {"id": obj.id, "created_at": ts(obj.created_at)}
    return {"id": obj.id, "author": author(obj.author), "created_at": ts(obj.created_at)}


def _sender(who: Author | None, dialect: Dialect) -> dict[str, Any]:
    if who is None:
        return {}
    if dialect.sender == "from":
        return {"from": {"id": who.id, "name": who.name, "type": who.kind}}
    if dialect.sender == "from_agent_id":
        return {"from_agent_id": who.id}
    return {"from_agent": author(who)}


def notification(n: Notification, dialect: Dialect) -> dict[str, Any]:
    if n.raw is not None:
        return dict(n.raw)
    return _present(
        {
            "id": n.id,
            "type": n.type,
            "post_id": n.post_id,
            "comment_id": n.comment_id,
            **_sender(n.sender, dialect),
            dialect.text: n.content,
            "created_at": ts(n.created_at),
            "read": n.read,
        }
    )


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

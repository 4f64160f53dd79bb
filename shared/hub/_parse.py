"""The response side of the Hub dialect: lenient parsing into our own models.

Real Hubs of this family differ (HUB-CONTRACT.md, "Tolerance"): an envelope
``{success: true, …}`` or not; lists under their own key, ``data``, ``posts`` or
``results``; the sender as ``from_agent``, ``from`` or a flat ``from_agent_id``; text as
``content`` or ``content_preview``; ``null`` where a list belongs. One odd record in a
list is logged and skipped, never failing the batch; a single object that cannot be
read raises ``ShapeError`` for the client to translate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from ._models import (
    AgentRef,
    AgentWork,
    BudgetHealth,
    Comment,
    Created,
    Notification,
    NotificationType,
    Post,
    StaleAgent,
)
from ._wire import normalize_community

log = structlog.get_logger(__name__)

T = TypeVar("T")

_LIST_KEYS = ("data", "posts", "results", "items")
_OBJECT_KEYS = ("data", "post", "comment", "dm", "message", "result")
_TEXT_KEYS = ("content", "content_preview", "text", "body")
_SENDER = (("from_agent", "from", "sender", "actor"), ("from_agent_id", "from_id", "sender_id"), ("from_agent_name",))
_AUTHOR = (("author", "agent"), ("author_id", "agent_id"), ("author_name", "agent_name"))


class ShapeError(ValueError):
    """A response (not one record of a list) that cannot be read as what was asked for."""


def items(body: Any, key: str) -> list[Any]:
    """The list a response carries under ``key`` (or ``data``/``posts``/``results``); ``null`` is empty."""
    if body is None or isinstance(body, list):
        return body or []
    if not isinstance(body, dict):
        raise ShapeError(f"expected an object holding {key!r}, got {type(body).__name__}")
    for name in (key, *_LIST_KEYS):
        if name not in body:
            continue
        value = body[name]
        if value is None or isinstance(value, list):
            return value or []
        if isinstance(value, dict):
            return items(value, key)
    log.warning("hub.list_missing", expected=key, keys=sorted(str(k) for k in body)[:20])
    return []


def obj(body: Any) -> dict[str, Any]:
    """The object a response carries, inside an envelope (``data``, ``post``, or its only object) or bare."""
    if not isinstance(body, dict):
        raise ShapeError(f"expected an object, got {type(body).__name__}")
    if "id" not in body:
        for name in _OBJECT_KEYS:
            if isinstance(body.get(name), dict):
                return obj(body[name])
        if "success" in body:  # an envelope naming its payload some other way: {success, budget: {...}}
            nested = [value for value in body.values() if isinstance(value, dict)]
            if len(nested) == 1:
                return obj(nested[0])
    return body


def records(raw: list[Any], parse: Callable[[Any], T | None], what: str) -> list[T]:
    """Parse each record of a list; one that fails is logged and skipped."""
    parsed: list[T] = []
    for index, record in enumerate(raw):
        try:
            item = parse(record)
        except (ShapeError, ValidationError, TypeError, ValueError) as exc:
            log.warning("hub.record_skipped", what=what, index=index, problem=_problem(exc))
            continue
        if item is not None:
            parsed.append(item)
    return parsed


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def _record(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ShapeError(f"expected an object, got {type(raw).__name__}")
    return raw


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    return next((raw[k] for k in keys if raw.get(k) is not None), None)


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) and str(value) else None


def record_id(raw: Any) -> str | None:
    """The ``id`` of a raw record, as ``notification`` and friends would read it; ``None`` if it has none."""
    return _id(raw.get("id")) if isinstance(raw, Mapping) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time (trailing ``Z`` allowed) or epoch seconds; anything else is unknown."""
    at: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        at = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at


def _actor(raw: Mapping[str, Any], keys: tuple[tuple[str, ...], ...]) -> AgentRef | None:
    nested, flat_id, flat_name = keys
    value = _first(raw, *nested)
    if isinstance(value, Mapping):
        ident, name = _id(_first(value, "id", "agent_id")), _str(_first(value, "name", "username", "display_name"))
        kind = _str(value.get("type"))
    else:
        ident, name, kind = _id(value) or _id(_first(raw, *flat_id)), _str(_first(raw, *flat_name)), None
    return AgentRef(id=ident, name=name, kind=kind) if ident or name else None


def _text(raw: Mapping[str, Any]) -> str:
    return _str(_first(raw, *_TEXT_KEYS)) or ""


def notification(raw: Any) -> Notification | None:
    """One notification, or ``None`` (logged) when its type is not one we know."""
    record = _record(raw)
    kind = str(record.get("type", "")).strip().lower().replace("-", "_")
    if kind not in NotificationType.__members__.values():
        log.info("hub.notification_type_unknown", type=kind[:40], notification_id=_id(record.get("id")))
        return None
    return Notification(
        id=_id(record.get("id")) or "",
        type=NotificationType(kind),
        post_id=_id(record.get("post_id")),
        comment_id=_id(record.get("comment_id")),
        sender=_actor(record, _SENDER),
        content=_text(record),
        created_at=_time(record.get("created_at")),
        read=bool(_first(record, "read", "is_read")),
    )


def comment(raw: Any, *, post_id: str | None = None, parent_id: str | None = None) -> Comment:
    """One comment."""
    record = _record(raw)
    return Comment(
        id=_id(record.get("id")) or "",
        author=_actor(record, _AUTHOR),
        content=_text(record),
        post_id=_id(record.get("post_id")) or post_id,
        parent_id=_id(record.get("parent_id")) or parent_id,
        created_at=_time(record.get("created_at")),
    )


def _comments(raw: Any, post_id: str) -> list[Comment]:
    """Comments in order; replies a Hub nests under ``replies`` are flattened after their parent."""
    flat: list[Comment] = []
    for item in records(items(raw, "comments"), lambda r: (r, comment(r, post_id=post_id)), "comment"):
        record, parsed = item
        flat.append(parsed)
        replies = record.get("replies") if isinstance(record, Mapping) else None
        if replies:
            nested = _comments(replies, post_id)
            flat.extend(c.model_copy(update={"parent_id": c.parent_id or parsed.id}) for c in nested)
    return flat


def post(raw: Any) -> Post:
    """One post, with its comments when present."""
    record = _record(raw)
    ident = _id(record.get("id")) or ""
    community = _str(_first(record, "community", "submolt", "community_name"))
    return Post(
        id=ident,
        author=_actor(record, _AUTHOR),
        title=_str(record.get("title")),
        content=_text(record),
        community=normalize_community(community) if community else None,
        parent_id=_id(record.get("parent_id")),
        created_at=_time(record.get("created_at")),
        updated_at=_time(record.get("updated_at")),
        comments=tuple(_comments(record.get("comments"), ident)),
    )


def created(raw: Any) -> Created:
    """The answer to a write."""
    record = obj(raw)
    return Created(
        id=_id(record.get("id")) or "", author=_actor(record, _AUTHOR), created_at=_time(record.get("created_at"))
    )


def agent_work(raw: Any) -> AgentWork:
    """An agent with unread notifications."""
    record = _record(raw)
    count = _first(record, "notification_count", "unread_count", "count")
    return AgentWork(
        id=_id(_first(record, "id", "agent_id")) or "",
        name=_str(_first(record, "name", "agent_name")) or "",
        notification_count=count if isinstance(count, int) and count >= 0 else 0,
    )


def stale_agent(raw: Any) -> StaleAgent:
    """An agent with the time it was last activated."""
    record = _record(raw)
    return StaleAgent(
        id=_id(_first(record, "id", "agent_id")) or "",
        name=_str(_first(record, "name", "agent_name")) or "",
        last_activated_at=_time(record.get("last_activated_at")),
    )


def budget(raw: Any) -> BudgetHealth:
    """An agent's budget health; ``healthy`` is derived from the numbers when absent."""
    record = obj(raw)
    values: dict[str, Any] = {k: record.get(k) for k in ("daily_limit", "daily_used", "monthly_limit", "monthly_used")}
    healthy = record.get("healthy")
    if not isinstance(healthy, bool):
        try:
            limits = {k: float(v) for k, v in values.items()}
        except (TypeError, ValueError) as exc:
            raise ShapeError("budget health without numbers") from exc
        healthy = limits["daily_used"] < limits["daily_limit"] and limits["monthly_used"] < limits["monthly_limit"]
    return BudgetHealth.model_validate({**values, "healthy": healthy})


def health(raw: Any) -> str:
    """The Hub's ``status`` (``"ok"`` when healthy)."""
    return str(obj(raw).get("status", "unknown"))

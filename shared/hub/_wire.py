"""The request side of the Hub dialect: every path, query parameter and body field name.

Together with ``_parse`` (the response side) this is the only place that knows how the
Hub spells things (HUB-CONTRACT.md), so a change of dialect is an edit here. Each
function builds one ``Call`` per endpoint row of the contract; ``agent_id`` is ``None``
when a per-agent key names the agent, and is then left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

API_PREFIX = "/api/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
AGENT_ID = "agent_id"
COMMUNITY_PREFIX = "m/"


@dataclass(frozen=True, kw_only=True)
class Call:
    """One HTTP request to the Hub, relative to ``API_PREFIX``."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    @property
    def write(self) -> bool:
        """Whether the call changes state on the Hub (and so carries an idempotency key)."""
        return self.method != "GET"


def normalize_community(name: str) -> str:
    """The bare community name: ``"m/General "`` and ``"general"`` both give ``"general"``."""
    bare = name.strip().removeprefix("/").strip()
    if bare.lower().startswith(COMMUNITY_PREFIX):
        bare = bare[len(COMMUNITY_PREFIX) :]
    return bare.strip().lower()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _with_agent(values: dict[str, Any], agent_id: str | None) -> dict[str, Any]:
    return {AGENT_ID: agent_id, **values} if agent_id is not None else values


def _csv(values: Iterable[str]) -> str:
    return ",".join(v for v in values if v)


def notifications(*, agent_id: str | None, unread: bool, limit: int | None) -> Call:
    """Row 1: the agent's notifications."""
    params: dict[str, Any] = {"unread": "true"} if unread else {}
    if limit is not None:
        params["limit"] = str(limit)
    return Call(method="GET", path="/notifications", params=_with_agent(params, agent_id))


def poll(*, timeout_s: float, batch_size: int) -> Call:
    """Row 2: long-poll for agents with unread notifications."""
    return Call(
        method="GET", path="/notifications/poll", params={"timeout": _num(timeout_s), "batch_size": str(batch_size)}
    )


def mark_read(*, agent_id: str | None, notification_ids: Sequence[str]) -> Call:
    """Row 3: mark notifications read."""
    return Call(
        method="POST",
        path="/notifications/read",
        json=_with_agent({"notification_ids": list(notification_ids)}, agent_id),
    )


def get_post(*, agent_id: str | None, post_id: str, include_comments: bool) -> Call:
    """Row 4: one post, with its comments."""
    params: dict[str, Any] = {"include_comments": "true"} if include_comments else {}
    return Call(method="GET", path=f"/posts/{_segment(post_id)}", params=_with_agent(params, agent_id))


def create_post(*, agent_id: str | None, content: str, title: str | None, community: str | None) -> Call:
    """Row 5: a new post."""
    body: dict[str, Any] = {"content": content}
    if title is not None:
        body["title"] = title
    if community is not None:
        body["community"] = normalize_community(community)
    return Call(method="POST", path="/posts", json=_with_agent(body, agent_id))


def create_comment(*, agent_id: str | None, post_id: str, content: str, parent_id: str | None) -> Call:
    """Row 6: a comment on a post, or a reply to one of its comments."""
    body: dict[str, Any] = {"content": content}
    if parent_id is not None:
        body["parent_id"] = parent_id
    return Call(method="POST", path=f"/posts/{_segment(post_id)}/comments", json=_with_agent(body, agent_id))


def send_dm(*, agent_id: str | None, recipient: str, content: str) -> Call:
    """Row 7: a direct message."""
    return Call(method="POST", path="/dms", json=_with_agent({"recipient_id": recipient, "content": content}, agent_id))


def search(*, agent_id: str | None, query: str, limit: int, community: str | None, author: str | None) -> Call:
    """Row 8: full-text search over posts."""
    params: dict[str, Any] = {"q": query, "limit": str(limit)}
    if community is not None:
        params["community"] = normalize_community(community)
    if author is not None:
        params["author"] = author
    return Call(method="GET", path="/search", params=_with_agent(params, agent_id))


def agents_with_notifications() -> Call:
    """Row 9: agents with unread notifications (the plain query behind long-poll)."""
    return Call(method="GET", path="/agents", params={"has_notifications": "true"})


def stale_agents(*, min_staleness_s: float) -> Call:
    """Row 10: agents not activated for at least ``min_staleness_s``."""
    return Call(method="GET", path="/agents", params={"stale": "true", "min_staleness": _num(min_staleness_s)})


def mark_activated(*, agent: str) -> Call:
    """Row 11: record that the agent was activated."""
    return Call(method="POST", path=f"/agents/{_segment(agent)}/activated", json={})


def discover(
    *,
    agent_id: str | None,
    communities: Iterable[str],
    keywords: Iterable[str],
    exclude_responded: bool,
    limit: int,
) -> Call:
    """Row 12: posts for a discovery turn."""
    params: dict[str, Any] = {"limit": str(limit)}
    if bare := _csv(normalize_community(c) for c in communities):
        params["communities"] = bare
    if words := _csv(k.strip() for k in keywords):
        params["keywords"] = words
    if exclude_responded:
        params["exclude_responded"] = "true"
    return Call(method="GET", path="/feed/discover", params=_with_agent(params, agent_id))


def budget_health(*, agent_id: str) -> Call:
    """Row 13: the agent's budget as the Hub accounts it (``agent_id`` is always sent)."""
    return Call(method="GET", path="/system/budget-health", params={AGENT_ID: agent_id})


def report_consumption(*, agent_id: str, report: dict[str, Any]) -> Call:
    """Row 14: what one activation spent (``agent_id`` is always sent)."""
    return Call(method="POST", path="/system/consumption", json={AGENT_ID: agent_id, **report})


def health() -> Call:
    """Row 15: liveness."""
    return Call(method="GET", path="/health")

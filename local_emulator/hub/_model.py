"""The mock Hub's records and settings: plain mutable dataclasses, kept in memory."""

from __future__ import annotations

import fnmatch
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AuthorKind = Literal["agent", "human"]
AGENT: AuthorKind = "agent"
HUMAN: AuthorKind = "human"

AuthKind = Literal["service", "agent", "invalid"] | None

_ids = itertools.count(1)


def mint_agent_key() -> str:
    """A per-agent key in the Hub's format: ``botburrow_agent_<64 hex>``."""
    return f"botburrow_agent_{secrets.token_hex(32)}"


def new_id(prefix: str, tag: str = "") -> str:
    """A readable unique id (``post-12``, ``post-<tag>12``); agents get uuids instead."""
    return f"{prefix}-{tag}{next(_ids)}"


@dataclass(frozen=True, kw_only=True)
class Author:
    """Whoever wrote something: an agent, or a person on the Hub (``kind="human"``)."""

    id: str
    name: str
    kind: AuthorKind = AGENT


@dataclass(kw_only=True)
class Budget:
    """Budget health settings of one agent; ``None`` used values are summed from consumption."""

    daily_limit: float = 10.0
    monthly_limit: float = 200.0
    daily_used: float | None = None
    monthly_used: float | None = None
    healthy: bool | None = None


@dataclass(kw_only=True)
class Agent:
    id: str
    name: str
    api_key: str
    last_activated_at: datetime | None = None
    budget: Budget = field(default_factory=Budget)

    @property
    def author(self) -> Author:
        return Author(id=self.id, name=self.name, kind=AGENT)


@dataclass(kw_only=True)
class Post:
    id: str
    author: Author
    content: str
    created_at: datetime
    title: str | None = None
    community: str | None = None
    parent_id: str | None = None
    updated_at: datetime | None = None


@dataclass(kw_only=True)
class Comment:
    id: str
    post_id: str
    author: Author
    content: str
    created_at: datetime
    parent_id: str | None = None


@dataclass(kw_only=True)
class DirectMessage:
    id: str
    sender: Author
    recipient_id: str
    content: str
    created_at: datetime


@dataclass(kw_only=True)
class Notification:
    """One notification; ``raw`` (when set) is served verbatim instead, for malformed-record tests."""

    id: str
    agent_id: str
    type: str
    created_at: datetime
    sender: Author | None = None
    content: str = ""
    post_id: str | None = None
    comment_id: str | None = None
    read: bool = False
    raw: dict[str, Any] | None = None


@dataclass(kw_only=True)
class ConsumptionRecord:
    agent_id: str
    body: dict[str, Any]
    at: datetime

    @property
    def cost_usd(self) -> float:
        value = self.body.get("cost_usd", 0)
        return float(value) if isinstance(value, int | float) else 0.0


@dataclass(kw_only=True)
class Fault:
    """The next ``times`` requests matching ``method`` and the ``path`` glob misbehave.

    With ``for_s`` it is a window instead of a count: every matching request misbehaves
    until ``until`` (the mock's clock when the fault was added, plus ``for_s``), and
    ``times`` is not counted down. ``status`` answers that status (with ``retry_after``
    and ``body``); ``drop`` closes the connection without an answer; ``latency_s`` delays
    first. With ``after`` the request is handled for real first (the object is created)
    and only then answered badly.
    """

    path: str
    method: str | None = None
    status: int | None = None
    times: int = 1
    retry_after: str | None = None
    body: dict[str, Any] | None = None
    latency_s: float = 0.0
    drop: bool = False
    after: bool = False
    for_s: float | None = None
    until: float | None = None
    id: str = field(default_factory=lambda: new_id("fault"))

    def active(self, now: float) -> bool:
        """Whether the fault still applies: its window is open, or it has ``times`` left."""
        return now < self.until if self.until is not None else self.times > 0

    def matches(self, method: str, path: str, now: float) -> bool:
        return self.active(now) and (self.method in (None, "*", method)) and fnmatch.fnmatchcase(path, self.path)

    def take(self) -> None:
        """Count one request against the fault (a window is not counted down)."""
        if self.until is None:
            self.times -= 1


@dataclass(kw_only=True)
class Dialect:
    """Which shape the mock answers in; the default is exactly HUB-CONTRACT.md.

    ``envelope`` wraps answers in ``{success: true, …}``; ``sender`` picks ``from_agent``,
    ``from`` or a flat ``from_agent_id``; ``text`` picks ``content`` or ``content_preview``;
    ``list_key="data"`` puts every list (and, with the envelope, every object) under ``data``.
    """

    envelope: bool = False
    sender: Literal["from_agent", "from", "from_agent_id"] = "from_agent"
    text: Literal["content", "content_preview"] = "content"
    list_key: Literal["data"] | None = None


@dataclass(frozen=True, kw_only=True)
class HubLimits:
    """The Hub's limits, enforced only when the mock is told to."""

    requests_per_min: int = 100
    posts_per_window: int = 1
    post_window_s: float = 1800.0
    comments_per_hour: int = 50


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """One request that reached ``/api/v1`` (never its key: only which kind of key it was)."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    auth: AuthKind
    agent_id: str | None
    idempotency_key: str | None
    at: float
    traceparent: str | None = None

"""What the Hub client returns: small frozen models of our own, whatever dialect the Hub spoke.

Every model keeps only what the runner uses; the Hub's field names are mapped onto
these in ``_parse`` and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class NotificationType(StrEnum):
    """The notification types of the contract; anything else is skipped when parsed."""

    MENTION = "mention"
    REPLY = "reply"
    COMMENT = "comment"
    DM = "dm"
    FOLLOW = "follow"
    LIKE = "like"
    THREAD_UPDATE = "thread_update"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AgentRef(_Frozen):
    """Someone on the Hub: an agent, or a person when ``kind`` says so.

    At least one of ``id`` and ``name`` is known; a Hub that sends only a flat
    ``from_agent_id`` gives no name.
    """

    id: str | None = None
    name: str | None = None
    kind: str | None = None

    @model_validator(mode="after")
    def _named(self) -> AgentRef:
        if not self.id and not self.name:
            raise ValueError("an author or sender needs an id or a name")
        return self


class Notification(_Frozen):
    """One notification of an agent's inbox."""

    id: str = Field(min_length=1)
    type: NotificationType
    post_id: str | None = None
    comment_id: str | None = None
    sender: AgentRef | None = None
    content: str = ""
    created_at: datetime | None = None
    read: bool = False


class Comment(_Frozen):
    """A comment on a post; ``parent_id`` names the comment it answers, if any."""

    id: str = Field(min_length=1)
    author: AgentRef | None = None
    content: str = ""
    post_id: str | None = None
    parent_id: str | None = None
    created_at: datetime | None = None


class Post(_Frozen):
    """A post, with its comments when they were asked for (oldest first, as the Hub sent them).

    ``community`` is the bare name (``general``), however the Hub wrote it.
    """

    id: str = Field(min_length=1)
    author: AgentRef | None = None
    title: str | None = None
    content: str = ""
    community: str | None = None
    parent_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    comments: tuple[Comment, ...] = ()


class Created(_Frozen):
    """What a write answered: the new object's id (and author and time when the Hub said)."""

    id: str = Field(min_length=1)
    author: AgentRef | None = None
    created_at: datetime | None = None


class AgentWork(_Frozen):
    """An agent with unread notifications."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    notification_count: int = Field(default=0, ge=0)


class StaleAgent(_Frozen):
    """An agent not activated for a while; ``last_activated_at`` is ``None`` when never."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    last_activated_at: datetime | None = None


class BudgetHealth(_Frozen):
    """An agent's spend against its limits, in USD, as the Hub accounts it."""

    daily_limit: float = Field(ge=0)
    daily_used: float = Field(ge=0)
    monthly_limit: float = Field(ge=0)
    monthly_used: float = Field(ge=0)
    healthy: bool


class Consumption(_Frozen):
    """What one activation spent, reported to the Hub (``POST /system/consumption``).

    The agent is given to ``HubClient.report_consumption`` beside this report.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    activation_id: str = Field(min_length=1)
    tokens_input: int = Field(default=0, ge=0)
    tokens_output: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    model: str = ""
    duration_seconds: float = Field(default=0.0, ge=0)
    task_type: str = "inbox"

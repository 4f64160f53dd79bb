"""Pydantic models for the data of every event type the system produces or accepts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

PING = "dev.knative.sources.ping"
NOTIFICATION_CREATED = "com.botburrow.hub.notification.created"
ACTIVATION_REQUESTED = "com.botburrow.activation.requested"
ACTIVATION_COMPLETED = "com.botburrow.activation.completed"
ACTIVATION_DEADLETTERED = "com.botburrow.activation.deadlettered"


class Priority(StrEnum):
    """Which activation stream an event travels on."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class ActivationKind(StrEnum):
    """Why an agent is activated: unread notifications, or a discovery turn."""

    INBOX = "inbox"
    DISCOVERY = "discovery"


class _Strict(BaseModel):
    """Data we produce ourselves: unknown fields are a bug, so they are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Lenient(BaseModel):
    """Data that arrives from outside (PingSource, the Hub): extra fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)


class PingData(_Lenient):
    """A PingSource tick; ``window_s`` bounds how long the tick may poll."""

    window_s: int | None = Field(default=None, gt=0)


class NotificationCreatedData(_Lenient):
    """A Hub notification pushed by webhook or curl, or a bare ``{agent_id}`` nudge."""

    agent_id: str | None = None
    id: str | None = None
    type: str | None = None

    @model_validator(mode="after")
    def _names_something(self) -> NotificationCreatedData:
        if not self.agent_id and not self.id:
            raise ValueError("needs agent_id or a notification id")
        return self


class ActivationRequested(_Strict):
    """Ask the runners to activate one agent."""

    agent_id: str = Field(min_length=1)
    agent_name: str = Field(min_length=1)
    kind: ActivationKind
    priority: Priority = Priority.NORMAL
    notification_ids: list[str] = Field(default_factory=list)
    reason: str = ""
    requested_at: AwareDatetime


class Usage(_Strict):
    """Tokens and dollars one activation spent, normalised across providers."""

    model: str | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)


class ActivationCompleted(_Strict):
    """What one activation attempt did and spent."""

    activation_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    outcome: str = Field(min_length=1)
    usage: Usage = Field(default_factory=Usage)
    duration_ms: int = Field(ge=0)
    posts: list[str] = Field(default_factory=list)
    comments: list[str] = Field(default_factory=list)
    error: str | None = None


class ActivationDeadLettered(_Strict):
    """An event (or unparseable stream entry) the runners gave up on, and why.

    ``event`` is the original structured CloudEvent when it parsed; ``raw`` holds the
    entry's fields as they were when it did not.
    """

    event: dict[str, Any] | None = None
    raw: dict[str, str] | None = None
    reason: str = Field(min_length=1)
    deliveries: int = Field(ge=0)
    last_error: str | None = None
    stream: str
    entry_id: str
    deadlettered_at: datetime | None = None


DATA_MODELS: dict[str, type[BaseModel]] = {
    PING: PingData,
    NOTIFICATION_CREATED: NotificationCreatedData,
    ACTIVATION_REQUESTED: ActivationRequested,
    ACTIVATION_COMPLETED: ActivationCompleted,
    ACTIVATION_DEADLETTERED: ActivationDeadLettered,
}

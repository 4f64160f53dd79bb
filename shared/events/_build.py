"""Constructors for the events the system produces, and typed access to event data.

Constructors take every time they need as an argument (no hidden clock) and derive
the event id from the work, so building the same event twice gives the same event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from cloudevents.http import CloudEvent
from pydantic import BaseModel, ValidationError

from shared.errors import InvalidEvent

from . import _ids
from ._codec import JSON_CONTENT_TYPE, make_event
from ._models import (
    ACTIVATION_COMPLETED,
    ACTIVATION_DEADLETTERED,
    ACTIVATION_REQUESTED,
    DATA_MODELS,
    NOTIFICATION_CREATED,
    PING,
    ActivationCompleted,
    ActivationDeadLettered,
    ActivationKind,
    ActivationRequested,
    Priority,
    Usage,
)

M = TypeVar("M", bound=BaseModel)

POLLER_SOURCE = "/botburrow/poller"
RUNNER_SOURCE = "/botburrow/runner"
HUB_SOURCE = "/botburrow/hub"
PING_SOURCE = "/botburrow/ping"


def _event(
    *,
    type_: str,
    id_: str,
    source: str,
    subject: str | None,
    time: datetime,
    data: BaseModel,
    traceparent: str | None,
) -> CloudEvent:
    attrs: dict[str, Any] = {
        "specversion": "1.0",
        "id": id_,
        "source": source,
        "type": type_,
        "time": _rfc3339(time),
        "datacontenttype": JSON_CONTENT_TYPE,
    }
    if subject:
        attrs["subject"] = subject
    if traceparent:
        attrs["traceparent"] = traceparent
    return make_event(attrs, data.model_dump(mode="json", exclude_none=True))


def _rfc3339(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def activation_requested(
    *,
    agent_id: str,
    agent_name: str,
    kind: ActivationKind,
    requested_at: datetime,
    notification_ids: Iterable[str] = (),
    window_start: datetime | None = None,
    priority: Priority = Priority.NORMAL,
    reason: str = "",
    traceparent: str | None = None,
) -> CloudEvent:
    """An activation request; its id names the work (agent, kind, notifications or window)."""
    ids = sorted(set(notification_ids))
    data = ActivationRequested(
        agent_id=agent_id,
        agent_name=agent_name,
        kind=kind,
        priority=priority,
        notification_ids=ids,
        reason=reason,
        requested_at=requested_at,
    )
    return _event(
        type_=ACTIVATION_REQUESTED,
        id_=_ids.activation_id(agent_id=agent_id, kind=kind, notification_ids=ids, window_start=window_start),
        source=POLLER_SOURCE,
        subject=agent_id,
        time=requested_at,
        data=data,
        traceparent=traceparent,
    )


def activation_completed(
    *,
    activation_id: str,
    agent_id: str,
    attempt: int,
    outcome: str,
    duration_ms: int,
    finished_at: datetime,
    usage: Usage | None = None,
    posts: Iterable[str] = (),
    comments: Iterable[str] = (),
    error: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """The outcome of one attempt of an activation (every attempt that spent tokens reports)."""
    data = ActivationCompleted(
        activation_id=activation_id,
        agent_id=agent_id,
        outcome=outcome,
        usage=usage or Usage(),
        duration_ms=duration_ms,
        posts=list(posts),
        comments=list(comments),
        error=error,
    )
    return _event(
        type_=ACTIVATION_COMPLETED,
        id_=_ids.completion_id(activation_id, attempt),
        source=RUNNER_SOURCE,
        subject=agent_id,
        time=finished_at,
        data=data,
        traceparent=traceparent,
    )


def activation_deadlettered(
    *,
    stream: str,
    entry_id: str,
    reason: str,
    deliveries: int,
    at: datetime,
    original: CloudEvent | None = None,
    original_json: Mapping[str, Any] | None = None,
    raw: Mapping[str, str] | None = None,
    last_error: str | None = None,
) -> CloudEvent:
    """The dead-letter record of one stream entry: the original plus why it was given up on."""
    subject = None
    if original is not None:
        subject = original.get("subject")
    data = ActivationDeadLettered(
        event=dict(original_json) if original_json is not None else None,
        raw=dict(raw) if raw is not None else None,
        reason=reason,
        deliveries=deliveries,
        last_error=last_error,
        stream=stream,
        entry_id=entry_id,
        deadlettered_at=at,
    )
    return _event(
        type_=ACTIVATION_DEADLETTERED,
        id_=_ids.deadletter_id(stream, entry_id),
        source=RUNNER_SOURCE,
        subject=subject,
        time=at,
        data=data,
        traceparent=original.get("traceparent") if original is not None else None,
    )


def notification_created(
    *,
    at: datetime,
    agent_id: str | None = None,
    notification: Mapping[str, Any] | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """A pushed Hub notification (or a bare nudge naming only the agent)."""
    payload: dict[str, Any] = dict(notification or {})
    if agent_id:
        payload.setdefault("agent_id", agent_id)
    data = _validate(DATA_MODELS[NOTIFICATION_CREATED], payload)
    notification_id = payload.get("id")
    return _event(
        type_=NOTIFICATION_CREATED,
        id_=_ids.notification_event_id(
            agent_id=agent_id, notification_id=str(notification_id) if notification_id else None, at=at
        ),
        source=HUB_SOURCE,
        subject=agent_id,
        time=at,
        data=data,
        traceparent=traceparent,
    )


def ping(*, at: datetime, window_s: int | None = None) -> CloudEvent:
    """A scheduler tick, as PingSource sends it."""
    data = _validate(DATA_MODELS[PING], {"window_s": window_s} if window_s else {})
    return _event(
        type_=PING, id_=_ids.ping_id(at), source=PING_SOURCE, subject=None, time=at, data=data, traceparent=None
    )


def parse_data(event: CloudEvent, model: type[M]) -> M:
    """Validate ``event.data`` into ``model``.

    Raises:
        InvalidEvent: naming the first offending data field, e.g. ``data.agent_id``.
    """
    return _validate(model, event.get_data())


def data_of(event: CloudEvent) -> BaseModel:
    """Validate ``event.data`` into the model its ``type`` calls for.

    Raises:
        InvalidEvent: the type is unknown or the data does not match its model.
    """
    model = DATA_MODELS.get(str(event["type"]))
    if model is None:
        raise InvalidEvent("type", f"unknown event type {event['type']!r}")
    return _validate(model, event.get_data())


def _validate(model: type[M], data: Any) -> M:
    if data is None:
        raise InvalidEvent("data", f"missing; a {model.__name__} object is required")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise InvalidEvent(f"data.{path}" if path else "data", first["msg"]) from exc

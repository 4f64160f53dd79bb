"""``com.botburrow.definitions.changed``: an invalidation handed from the webhook view to the handler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from cloudevents.http import CloudEvent
from pydantic import BaseModel, ConfigDict

from shared.events import parse_data

from ._push import Invalidation

DEFINITIONS_CHANGED = "com.botburrow.definitions.changed"
DEFINITIONS_SOURCE = "/botburrow/definitions/webhook"


class ChangedData(BaseModel):
    """The data of a ``definitions.changed`` event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    all: bool = False
    agents: tuple[str, ...] = ()
    reason: str = ""


def definitions_changed(invalidation: Invalidation) -> CloudEvent:
    """The event that asks the definitions handler to bump these versions."""
    attributes = {
        "type": DEFINITIONS_CHANGED,
        "source": DEFINITIONS_SOURCE,
        "id": str(uuid.uuid4()),
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, invalidation.as_json())


def invalidation_of(event: CloudEvent) -> Invalidation:
    """The invalidation a ``definitions.changed`` event carries.

    Raises:
        InvalidEvent: its data does not parse.
    """
    data = parse_data(event, ChangedData)
    return Invalidation(agents=frozenset(data.agents), everything=data.all, reason=data.reason)

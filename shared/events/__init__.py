"""CloudEvents for botburrow: data models, deterministic ids, HTTP and Redis bindings.

Every message in the system is a ``cloudevents.http.CloudEvent`` (the 1.x SDK type
that functions-framework hands to handlers). This package builds them with ids
derived from the work, validates them with errors that name the attribute or
field, and moves them over HTTP (binary or structured) and Redis Streams.
"""

from ._build import (
    HUB_SOURCE,
    PING_SOURCE,
    POLLER_SOURCE,
    RUNNER_SOURCE,
    activation_completed,
    activation_deadlettered,
    activation_requested,
    data_of,
    notification_created,
    parse_data,
    ping,
)
from ._codec import decode_structured, encode_structured, from_mapping, validate_attributes
from ._http import STRUCTURED_CONTENT_TYPE, from_http, to_http
from ._ids import activation_id, completion_id, deadletter_id
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
    NotificationCreatedData,
    PingData,
    Priority,
    Usage,
)
from ._redis import EVENT_FIELD, from_fields, to_fields

__all__ = [
    "ACTIVATION_COMPLETED",
    "ACTIVATION_DEADLETTERED",
    "ACTIVATION_REQUESTED",
    "DATA_MODELS",
    "EVENT_FIELD",
    "HUB_SOURCE",
    "NOTIFICATION_CREATED",
    "PING",
    "PING_SOURCE",
    "POLLER_SOURCE",
    "RUNNER_SOURCE",
    "STRUCTURED_CONTENT_TYPE",
    "ActivationCompleted",
    "ActivationDeadLettered",
    "ActivationKind",
    "ActivationRequested",
    "NotificationCreatedData",
    "PingData",
    "Priority",
    "Usage",
    "activation_completed",
    "activation_deadlettered",
    "activation_id",
    "activation_requested",
    "completion_id",
    "data_of",
    "deadletter_id",
    "decode_structured",
    "encode_structured",
    "from_fields",
    "from_http",
    "from_mapping",
    "notification_created",
    "parse_data",
    "ping",
    "to_fields",
    "to_http",
    "validate_attributes",
]

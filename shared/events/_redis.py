"""The Redis Streams binding of CloudEvents (Redis has no official one).

One stream entry per event. Field ``event`` holds the structured-mode JSON and is the
only field read back; ``type`` and ``subject`` are copies for ``redis-cli`` readers.
The transport may add fields of its own (delivery counts); they are ignored here.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudevents.http import CloudEvent

from shared.errors import InvalidEvent

from ._codec import decode_structured, encode_structured

EVENT_FIELD = b"event"


def to_fields(event: CloudEvent) -> dict[bytes, bytes]:
    """The stream entry fields for ``event``."""
    attrs = event.get_attributes()
    return {
        EVENT_FIELD: encode_structured(event),
        b"type": str(attrs["type"]).encode(),
        b"subject": str(attrs.get("subject") or "").encode(),
    }


def from_fields(fields: Mapping[bytes, bytes]) -> CloudEvent:
    """The CloudEvent held by a stream entry.

    Raises:
        InvalidEvent: the ``event`` field is missing or does not hold a valid event.
    """
    raw = fields.get(EVENT_FIELD)
    if raw is None:
        present = ", ".join(sorted(k.decode("utf-8", "replace") for k in fields)) or "none"
        raise InvalidEvent("event", f"stream entry has no 'event' field (fields present: {present})")
    return decode_structured(raw)

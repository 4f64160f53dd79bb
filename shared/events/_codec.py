"""CloudEvents 1.0 structured JSON, validated more strictly than the SDK does.

The SDK (cloudevents 1.x) accepts almost anything that has the four required keys;
a runner that dead-letters on ``InvalidEvent`` needs the reason up front, naming
the attribute. Encoding is done with orjson because it sits on the hot path of
every stream entry; ``tests/shared/events`` checks the output against the SDK's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from cloudevents.http import CloudEvent

from shared.errors import InvalidEvent

REQUIRED = ("id", "source", "specversion", "type")
_STRING_ATTRIBUTES = frozenset({"id", "source", "specversion", "type", "subject", "datacontenttype", "dataschema"})
_EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")
JSON_CONTENT_TYPE = "application/json"


def validate_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Check CloudEvents 1.0 context attributes; return them with names lower-cased.

    Raises:
        InvalidEvent: naming the first attribute that is missing or malformed.
    """
    attrs = {str(k).lower(): v for k, v in attributes.items()}
    _check(attrs)
    return attrs


def make_event(attributes: dict[str, Any], data: Any) -> CloudEvent:
    """A CloudEvent from attributes that ``validate_attributes`` has already checked.

    The SDK's constructor would lower-case and check them all over again, on the path
    every stream entry takes; this sets the same two fields it would set.
    ``tests/shared/events`` keeps the result equal to the SDK's.
    """
    event: CloudEvent = CloudEvent.__new__(CloudEvent)
    event._attributes = attributes
    event.data = data
    return event


def _check(attrs: Mapping[str, Any]) -> None:
    for name in REQUIRED:
        value = attrs.get(name)
        if value is None:
            raise InvalidEvent(name, "required attribute is missing")
        if not isinstance(value, str) or not value:
            raise InvalidEvent(name, "must be a non-empty string")
    if attrs["specversion"] != "1.0":
        raise InvalidEvent("specversion", f"must be '1.0', got {attrs['specversion']!r}")
    for name, value in attrs.items():
        if name in _STRING_ATTRIBUTES:
            if not isinstance(value, str):
                raise InvalidEvent(name, "must be a string")
        elif name == "time":
            _check_time(value)
        elif not _EXTENSION_NAME.match(name):
            raise InvalidEvent(name, "extension attribute names are lower-case a-z and 0-9 only")
        elif not isinstance(value, str | int | bool):
            raise InvalidEvent(name, "extension attribute values are strings, integers or booleans")


def _check_time(value: object) -> None:
    if not isinstance(value, str):
        raise InvalidEvent("time", "must be an RFC 3339 timestamp string")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent("time", f"not an RFC 3339 timestamp: {value[:64]!r}") from None


def encode_structured(event: CloudEvent) -> bytes:
    """The structured-mode JSON of ``event`` (``application/cloudevents+json``)."""
    body: dict[str, Any] = dict(event.get_attributes())
    data = event.get_data()
    if isinstance(data, bytes | bytearray):
        body["data_base64"] = base64.b64encode(bytes(data)).decode("ascii")
    elif data is not None:
        body["data"] = data
    try:
        return orjson.dumps(body)
    except TypeError as exc:
        raise InvalidEvent("data", f"not JSON-serialisable: {exc}") from exc


def decode_structured(raw: bytes | str) -> CloudEvent:
    """Parse structured-mode JSON into a CloudEvent.

    Raises:
        InvalidEvent: the JSON is broken, not an object, or an attribute is invalid.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("event", f"not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(body, dict):
        raise InvalidEvent("event", f"structured mode needs a JSON object, got {type(body).__name__}")
    return from_mapping(body)


def from_mapping(body: Mapping[str, Any]) -> CloudEvent:
    """Build a CloudEvent from its structured-mode dict (``data`` or ``data_base64`` inside)."""
    attrs = dict(body)
    has_data = "data" in attrs
    data: Any = attrs.pop("data", None)
    encoded = attrs.pop("data_base64", None)
    if encoded is not None:
        if has_data:
            raise InvalidEvent("data_base64", "an event carries data or data_base64, not both")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise InvalidEvent("data_base64", "not valid base64") from exc
    return make_event(validate_attributes(attrs), data)

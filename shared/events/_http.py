"""CloudEvents over HTTP, both modes, through the cloudevents 1.x SDK.

Binary mode carries attributes in ``ce-*`` headers; structured mode is a JSON body
with ``Content-Type: application/cloudevents+json``. Either is accepted, so curl works.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudevents import exceptions as ce_errors
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from cloudevents.http import from_http as sdk_from_http

from shared.errors import InvalidEvent

from ._codec import REQUIRED, decode_structured, validate_attributes

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


def from_http(headers: Mapping[str, str], body: bytes | str | None) -> CloudEvent:
    """Parse an HTTP request in either mode.

    Raises:
        InvalidEvent: naming the attribute (or the body) that is wrong.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type == BATCH_CONTENT_TYPE:
        raise InvalidEvent("content-type", "batched mode is not accepted; send one event per request")
    if "ce-specversion" not in lowered:
        if content_type != STRUCTURED_CONTENT_TYPE and not content_type.endswith("+json"):
            raise InvalidEvent(
                "specversion",
                f"no ce-specversion header (binary mode) and content type is {content_type or 'missing'!r}, "
                f"not {STRUCTURED_CONTENT_TYPE!r} (structured mode)",
            )
        if not body:
            raise InvalidEvent("event", "structured mode needs a JSON body")
        return decode_structured(body)
    for name in REQUIRED:
        if not lowered.get(f"ce-{name}"):
            raise InvalidEvent(name, f"required attribute is missing (binary mode: no ce-{name} header)")
    try:
        event = sdk_from_http(dict(headers), body)
    except ce_errors.GenericException as exc:
        raise InvalidEvent("event", str(exc)) from exc
    data = event.get_data()
    if _is_json(content_type) and isinstance(data, bytes) and data:
        # The SDK hands back the raw body when it is not the JSON its content type says.
        raise InvalidEvent("data", f"the body is not the JSON its content type ({content_type}) says")
    return CloudEvent(validate_attributes(event.get_attributes()), data)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def to_http(event: CloudEvent, *, binary: bool = False) -> tuple[dict[str, str], bytes]:
    """Headers and body of ``event`` in structured (default) or binary mode."""
    headers, body = to_binary(event) if binary else to_structured(event)
    payload: object = body  # typed as bytes by the SDK, but None in binary mode without data
    if payload is None:
        return dict(headers), b""  # not the text "None"
    return dict(headers), body if isinstance(body, bytes) else str(body).encode()

"""Settlements: what becomes of a claimed entry, written by one atomic script per entry.

Every way out of the pump is one of four actions, each done by ``settle.lua`` together
with the lease release and the XACK, and only while this consumer still owns the entry:

- ``ACK``: the handler succeeded; its outcome events go to the results stream.
- ``REQUEUE``: back on the stream now (never started, or handed back at shutdown).
- ``DELAY``: back on the stream later (retry backoff, agent busy, ``RetryLater``).
- ``DEAD``: to the dead-letter stream with the reason; an event dead-lettered again
  replaces its record there, counted (``count``, ``first_at``), so an event that keeps
  coming back and failing is one record, not one per time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from cloudevents.http import CloudEvent

from shared.events import activation_deadlettered, encode_structured, to_fields

from ._admin import delayed_member
from ._entries import Entry
from ._keys import StreamKeys

MAX_ERROR_CHARS = 2_000


class Action(StrEnum):
    """The four ways an entry leaves the pump."""

    ACK = "ack"
    REQUEUE = "requeue"
    DELAY = "delay"
    DEAD = "dead"


@dataclass(eq=False, slots=True)
class Settlement:
    """The decided fate of one entry, waiting for the next settle pipeline.

    ``release`` is set by the pump when this entry is the last one it holds for its
    agent: the lease (this value of it) goes in the same script as the ack.
    """

    entry: Entry
    action: Action
    outcome: Sequence[CloudEvent] = ()
    delay_s: float = 0.0
    reason: str = ""
    last_error: str | None = None
    release: str | None = None
    fields: dict[bytes, bytes] = field(default_factory=dict)


def ack(entry: Entry, outcome: Sequence[CloudEvent] | None) -> Settlement:
    """The handler succeeded; publish ``outcome`` and acknowledge."""
    return Settlement(entry, Action.ACK, outcome=tuple(outcome or ()))


def requeue(
    entry: Entry, *, delay_s: float = 0.0, counted: bool, deferred: bool = False, last_error: str | None = None
) -> Settlement:
    """Put the event back on its stream, now or after ``delay_s``."""
    error = _clip(last_error) if last_error else None
    return Settlement(
        entry,
        Action.DELAY if delay_s > 0 else Action.REQUEUE,
        delay_s=delay_s,
        last_error=error,
        fields=entry.requeue_fields(counted=counted, last_error=error, deferred=deferred),
    )


def dead(entry: Entry, reason: str, *, last_error: str | None = None) -> Settlement:
    """Give up on the entry: it goes to the dead-letter stream with ``reason``."""
    return Settlement(entry, Action.DEAD, reason=reason, last_error=_clip(last_error) if last_error else None)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def deadletter_fields(s: Settlement, *, at: datetime | None = None) -> dict[bytes, bytes]:
    """The dead-letter stream entry for settlement ``s``.

    Field ``event`` holds a ``com.botburrow.activation.deadlettered`` CloudEvent whose
    data carries the original event (or, when it did not parse, the raw fields);
    ``reason``, ``origin`` and ``origin_id`` are plain copies for ``redis-cli``
    (``settle.lua`` adds ``count``, and ``first_at`` once the event repeats).
    """
    e = s.entry
    original_json = orjson.loads(encode_structured(e.event)) if e.event is not None else None
    raw = (
        None
        if e.event is not None
        else {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in e.fields.items()}
    )
    record = activation_deadlettered(
        stream=e.stream,
        entry_id=e.entry_id,
        reason=s.reason,
        deliveries=e.deliveries,
        at=at or datetime.now(UTC),
        original=e.event,
        original_json=original_json,
        raw=raw,
        last_error=s.last_error or e.last_error,
    )
    fields = to_fields(record)
    fields[b"reason"] = s.reason.encode()
    fields[b"origin"] = e.stream.encode()
    fields[b"origin_id"] = e.entry_id.encode()
    return fields


def settle_call(
    batch: Sequence[Settlement], keys: StreamKeys, *, group: str, consumer: str
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one ``settle.lua`` call for the whole ``batch``."""
    script_keys: list[str] = []
    args: list[Any] = [group, consumer]
    for s in batch:
        e = s.entry
        delay_ms = 0
        payload: list[Any]
        if s.action is Action.ACK:
            target = keys.results
            payload = []
            for event in s.outcome:
                fields = to_fields(event)
                payload.append(len(fields))
                for pair in fields.items():
                    payload += pair
        elif s.action is Action.REQUEUE:
            target = e.stream
            payload = [x for pair in s.fields.items() for x in pair]
        elif s.action is Action.DELAY:
            target = keys.delayed(e.stream)
            delay_ms = max(1, int(s.delay_s * 1000))
            payload = [delayed_member(s.fields)]
        else:
            target = keys.dlq
            event_id = str(e.event["id"]) if e.event is not None else ""
            payload = [event_id, *(x for pair in deadletter_fields(s).items() for x in pair)]
        script_keys += [e.stream, e.slot.lease_key if e.slot is not None else e.stream, target]
        args += [e.entry_id, s.release or "", s.action.value, delay_ms, len(payload), *payload]
    script_keys.append(keys.dlq_index)
    return script_keys, args

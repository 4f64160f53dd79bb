"""A stream entry as the pump sees it: parsed event, delivery count, where it stands."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from cloudevents.http import CloudEvent

from shared.errors import InvalidEvent
from shared.events import from_fields, to_fields

# Transport fields carried across re-queues (never part of the CloudEvent).
DELIVERIES = b"deliveries"
DEFERRALS = b"deferrals"
LAST_ERROR = b"last_error"


@dataclass(eq=False, slots=True)
class Entry:
    """One claimed stream entry.

    ``deliveries`` counts every delivery of the event, including those of earlier
    entries it was re-queued from (carried in the ``deliveries`` field).
    """

    stream: str
    entry_id: str
    fields: dict[bytes, bytes]
    deliveries: int
    deferrals: int = 0
    last_error: str | None = None
    event: CloudEvent | None = None
    invalid: InvalidEvent | None = None
    previous_owner: str | None = None
    slot: AgentSlot | None = None
    task: asyncio.Task[None] | None = None

    @property
    def agent(self) -> str | None:
        """The serialisation key: the event's subject (the agent id), if any."""
        if self.event is None:
            return None
        subject = self.event.get("subject")
        return str(subject) if subject else None

    def requeue_fields(self, *, counted: bool, last_error: str | None, deferred: bool) -> dict[bytes, bytes]:
        """Fields of the entry that replaces this one when it goes back on the stream.

        ``counted`` says whether this delivery counts toward the dead-letter limit
        (a handler ran and failed) or not (the agent was busy, the handler asked to
        retry later, or it never started).
        """
        assert self.event is not None, "only parsed entries are re-queued"
        fields = to_fields(self.event)
        fields[DELIVERIES] = str(self.deliveries if counted else self.deliveries - 1).encode()
        # Deferrals count consecutive "agent busy" bounces; once the event has run, it starts over.
        fields[DEFERRALS] = str(self.deferrals + 1 if deferred else 0).encode()
        error = last_error or self.last_error
        if error:
            fields[LAST_ERROR] = error.encode()
        return fields


@dataclass(eq=False, slots=True)
class AgentSlot:
    """The lease this runner holds on one agent, and its entries in order."""

    agent: str
    lease_key: str
    token: int
    value: str
    current: Entry | None = None
    waiting: deque[Entry] = field(default_factory=deque)
    lost: bool = False

    def entries(self) -> list[Entry]:
        """Every entry held under this lease, running one first."""
        return ([self.current] if self.current else []) + list(self.waiting)


def parse_entry(
    stream: str,
    entry_id: bytes | str,
    fields: Mapping[bytes, bytes],
    pel_count: int,
    previous_owner: str | None = None,
) -> Entry:
    """Build an ``Entry``; a malformed one carries its ``InvalidEvent`` instead of an event."""
    prior = _int_field(fields, DELIVERIES)
    entry = Entry(
        stream=stream,
        entry_id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        fields=dict(fields),
        deliveries=prior + max(pel_count, 1),
        deferrals=_int_field(fields, DEFERRALS),
        last_error=fields[LAST_ERROR].decode("utf-8", "replace") if LAST_ERROR in fields else None,
        previous_owner=previous_owner,
    )
    try:
        entry.event = from_fields(fields)
    except InvalidEvent as exc:
        entry.invalid = exc
    return entry


def _int_field(fields: Mapping[bytes, bytes], name: bytes) -> int:
    raw = fields.get(name, b"0")
    return int(raw) if raw.isdigit() else 0

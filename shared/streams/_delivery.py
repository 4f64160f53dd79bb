"""What a handler is, what it may learn about its delivery, and how it asks for later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from cloudevents.http import CloudEvent

Outcome = Sequence[CloudEvent] | None
"""What a handler returns: events to publish on the results stream, or nothing."""

Handler = Callable[[CloudEvent], Awaitable[Outcome]]
"""An ordinary async function of one CloudEvent; the pump and HTTP feed the same one."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the event being handled reached this runner.

    Attributes:
        stream: the stream the entry was read from.
        entry_id: its stream entry id.
        deliveries: this is delivery number ``deliveries`` of the event (1 = first),
            counting crashes, failures and reclaims, across re-queues.
        consumer: this runner's consumer name.
        lease_key: the agent lease held while handling, or None for events without
            a subject (they are not serialised).
        fencing_token: the lease's token; effects check it so a runner that lost its
            lease cannot land anything.
    """

    stream: str
    entry_id: str
    deliveries: int
    consumer: str
    lease_key: str | None = None
    fencing_token: int | None = None

    @property
    def lease_value(self) -> str | None:
        """What the lease key holds while this delivery still owns it."""
        return None if self.fencing_token is None else f"{self.fencing_token}:{self.consumer}"


_current: ContextVar[Delivery | None] = ContextVar("botburrow_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The delivery being handled in this task, or None outside the pump (HTTP, tests)."""
    return _current.get()


def set_delivery(delivery: Delivery | None) -> None:
    """Bind ``delivery`` to the current task (the pump does this per handler task)."""
    _current.set(delivery)


class RetryLater(Exception):
    """Raised by a handler to have the event delivered again after ``delay_s``.

    Not a failure: it is not logged as an error and does not count toward the
    dead-letter limit.
    """

    def __init__(self, delay_s: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay_s:g}s")
        self.delay_s = delay_s
        self.reason = reason

"""The dead-letter stream as an operator sees it: list, and replay exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from shared.errors import InvalidEvent
from shared.events import from_fields, from_mapping, to_fields

from ._keys import StreamKeys
from ._redis import Redis, Scripts, translated


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered event and why it was given up on (the last time, of ``count``).

    An event dead-lettered again (the poller queued the same work once more, say) is
    the same record: ``count`` says how many times, ``first_at`` when the first was,
    and the rest is the latest time's.
    """

    dlq_id: str
    at: datetime
    origin: str
    origin_id: str
    event_id: str | None
    event_type: str | None
    subject: str | None
    reason: str
    deliveries: int
    last_error: str | None
    data: dict[str, Any]
    count: int
    first_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``botburrow dlq list --json``)."""
        return {
            "dlq_id": self.dlq_id,
            "at": self.at.isoformat(),
            "origin": self.origin,
            "origin_id": self.origin_id,
            "event_id": self.event_id,
            "type": self.event_type,
            "subject": self.subject,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "last_error": self.last_error,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
        }


class DeadLetters:
    """Read and replay ``<prefix>:dlq``."""

    def __init__(self, redis: Redis, scripts: Scripts, keys: StreamKeys) -> None:
        self._redis = redis
        self._scripts = scripts
        self._keys = keys

    async def entries(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, oldest first."""
        async with translated("XRANGE dlq"):
            rows = _rows(await self._redis.xrange(self._keys.dlq, count=limit))
        return [_parse(entry_id, fields) for entry_id, fields in rows]

    async def count(self) -> int:
        """How many entries the dead-letter stream holds."""
        async with translated("XLEN dlq"):
            return int(await self._redis.xlen(self._keys.dlq))

    async def replay(self, ident: str) -> str | None:
        """Publish one dead letter again on its original stream with a fresh delivery count.

        ``ident`` is the dead-letter entry id, or the original event's id (the oldest
        matching entry). Returns the new entry id, or None when nothing matches (or a
        concurrent replay took it first). Done-markers of effects that already landed
        are kept, so a replayed event never repeats them.

        Raises:
            InvalidEvent: the dead-letter entry is unreadable, so there is nothing to
                replay (remove it with ``XDEL``).
        """
        letter = await self._find(ident)
        if letter is None:
            return None
        fields = _original_fields(letter)
        if not letter.origin or not fields:
            raise InvalidEvent("dlq", f"entry {letter.dlq_id} is unreadable ({letter.reason}); nothing to replay")
        args = [letter.dlq_id, letter.event_id or "", *(x for pair in fields.items() for x in pair)]
        new_id = await self._scripts.call("replay", [self._keys.dlq, letter.origin, self._keys.dlq_index], args)
        return new_id.decode() if isinstance(new_id, bytes) else None

    async def replay_all(self) -> tuple[list[str], list[str]]:
        """Replay every dead letter present now, once each.

        Returns the new entry ids, and the problems of those that could not be replayed
        (they stay in the dead-letter stream).
        """
        replayed: list[str] = []
        problems: list[str] = []
        async for letter in self._scan():
            try:
                new_id = await self.replay(letter.dlq_id)
            except InvalidEvent as exc:
                problems.append(str(exc))
                continue
            if new_id:
                replayed.append(new_id)
        return replayed, problems

    async def _scan(self, page: int = 200) -> AsyncIterator[DeadLetter]:
        """Every dead letter present when the scan reaches it, oldest first, each once."""
        start = "-"
        while True:
            async with translated("XRANGE dlq"):
                rows = _rows(await self._redis.xrange(self._keys.dlq, min=start, count=page))
            for entry_id, fields in rows:
                yield _parse(entry_id, fields)
            if len(rows) < page:
                return
            start = "(" + rows[-1][0].decode()

    async def _find(self, ident: str) -> DeadLetter | None:
        if _is_stream_id(ident):
            async with translated("XRANGE dlq"):
                rows = _rows(await self._redis.xrange(self._keys.dlq, min=ident, max=ident, count=1))
            return _parse(*rows[0]) if rows else None
        async for letter in self._scan():
            if letter.event_id == ident:
                return letter
        return None


def _rows(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XRANGE's reply, typed (redis-py's own annotation is a union of every decoding)."""
    return cast(list[tuple[bytes, dict[bytes, bytes]]], reply or [])


def _is_stream_id(text: str) -> bool:
    ms, _, seq = text.partition("-")
    return ms.isdigit() and (seq.isdigit() or seq == "")


def _parse(entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    """A dead letter; an entry that is not one (written by hand, say) is listed as unreadable."""
    dlq_id = entry_id.decode()
    try:
        data = from_fields(fields).get_data()
        problem = "its event has no data object"
    except InvalidEvent as exc:
        data, problem = None, str(exc)
    if not isinstance(data, dict):
        data = {"reason": f"unreadable dead-letter entry: {problem}"}
    original = data.get("event") or {}
    at = _ms(dlq_id.split("-")[0]) or datetime.now(UTC)
    return DeadLetter(
        dlq_id=dlq_id,
        at=at,
        origin=str(data.get("stream", fields.get(b"origin", b"").decode())),
        origin_id=str(data.get("entry_id", "")),
        event_id=original.get("id"),
        event_type=original.get("type") or (data.get("raw") or {}).get("type"),
        subject=original.get("subject"),
        reason=str(data.get("reason", "")),
        deliveries=int(data.get("deliveries", 0)),
        last_error=data.get("last_error"),
        data=data,
        count=int(count) if (count := fields.get(b"count", b"")).isdigit() else 1,
        first_at=_ms(fields.get(b"first_at", b"").decode("ascii", "replace")) or at,
    )


def _ms(text: str) -> datetime | None:
    """Epoch milliseconds as a time, None when ``text`` is not a number."""
    return datetime.fromtimestamp(int(text) / 1000, UTC) if text.isdigit() else None


def _original_fields(letter: DeadLetter) -> dict[bytes, bytes]:
    """The stream fields to publish again: the original event, or the raw fields as they were."""
    original = letter.data.get("event")
    if original:
        try:
            return to_fields(from_mapping(original))
        except InvalidEvent:
            pass
    raw = letter.data.get("raw") or {}
    return {k.encode(): v.encode() for k, v in raw.items() if k not in ("deliveries", "deferrals", "last_error")}

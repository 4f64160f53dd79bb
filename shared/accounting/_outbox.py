"""``ConsumptionOutbox``: consumption records waiting for ``POST /system/consumption``, never dropped.

A record is one stream entry (``agent_id``, ``event_id``, ``report`` as JSON). ``flush``
sends a batch concurrently, one ``report_consumption`` per record with the completion
event id as its ``Idempotency-Key`` (a resend creates nothing new on the Hub), and
deletes an entry only after the Hub accepted it::

    accepted (2xx)            XDEL                        counted as sent
    HubUnavailable / other    kept; this flush stops      sent again by a later flush
    HubAuthError (401/403)    kept; this flush stops      a key problem, not the record's
    HubRejected (other 4xx)   moved to the dead stream    with status and reason, for an operator
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from shared.errors import HubAuthError, HubRejected, StreamUnavailable
from shared.events import ActivationCompleted
from shared.hub import Consumption, HubClient
from shared.streams import Pipeline, Redis, StreamKeys, text, translated

from ._keys import AccountingKeys, utc
from ._metrics import AccountingMetrics

log = structlog.get_logger("botburrow.accounting")

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def consumption_of(completed: ActivationCompleted, *, task_type: str = "inbox") -> Consumption:
    """The Hub's consumption record of one completed activation (cost exactly the event's)."""
    usage = completed.usage
    return Consumption(
        activation_id=completed.activation_id,
        tokens_input=usage.input_tokens,
        tokens_output=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        cost_usd=usage.cost_usd,
        model=usage.model or "",
        duration_seconds=completed.duration_ms / 1000,
        task_type=task_type,
    )


@dataclass(frozen=True, kw_only=True)
class DeadRecord:
    """A consumption record the Hub refused, and why."""

    entry_id: str
    agent_id: str
    event_id: str
    report: str
    reason: str
    status: int | None


class ConsumptionOutbox:
    """A Redis stream of consumption records, flushed to the Hub in concurrent batches.

    Args:
        redis: the client (bytes replies).
        keys: the stream keys; the outbox shares their prefix (``{p}:consumption:outbox``).
        metrics: reported/failed counters and the outbox size gauge.
        lock_ttl_s: how long one flusher holds the flush lock at most (a crashed flusher's
            lock lapses); two flushers at once would only resend what the Hub deduplicates.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        keys: StreamKeys,
        metrics: AccountingMetrics | None = None,
        lock_ttl_s: float = 60.0,
    ) -> None:
        self._redis = redis
        self._keys = AccountingKeys(keys.prefix)
        self._metrics = metrics
        self._lock_ttl_ms = int(lock_ttl_s * 1000)

    def stage(self, pipe: Pipeline, *, event_id: str, agent_id: str, report: Consumption, at: datetime) -> None:
        """Queue the XADD of one record on ``pipe`` (inside the caller's ``MULTI``)."""
        fields = {
            "agent_id": agent_id,
            "event_id": event_id,
            "report": report.model_dump_json(),
            "at": utc(at).isoformat(),
        }
        pipe.xadd(self._keys.outbox, fields)  # type: ignore[arg-type]

    async def add(self, *, event_id: str, agent_id: str, report: Consumption, at: datetime) -> None:
        """Queue one record on its own (``UsageBook.record`` stages records atomically instead).

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("XADD consumption"), self._redis.pipeline(transaction=True) as pipe:
            self.stage(pipe, event_id=event_id, agent_id=agent_id, report=report, at=at)
            await pipe.execute()
        if self._metrics is not None:
            self._metrics.outbox_size.inc()

    async def size(self) -> int:
        """How many records wait to be reported."""
        async with translated("XLEN consumption"):
            return int(await self._redis.xlen(self._keys.outbox))

    async def dead(self, *, limit: int = 100) -> list[DeadRecord]:
        """The records the Hub refused, oldest first."""
        async with translated("XRANGE consumption dead"):
            entries = _entries(await self._redis.xrange(self._keys.dead, count=limit))
        out = []
        for entry_id, f in entries:
            status = f.get("status", "")
            out.append(
                DeadRecord(
                    entry_id=entry_id,
                    agent_id=f.get("agent_id", ""),
                    event_id=f.get("event_id", ""),
                    report=f.get("report", ""),
                    reason=f.get("reason", ""),
                    status=int(status) if status.isdigit() else None,
                )
            )
        return out

    async def flush(self, hub: HubClient, *, max_batch: int = 50) -> int:
        """Send what waits now, ``max_batch`` records at a time; return how many the Hub accepted.

        Stops at the first batch with a transient failure (its unsent records stay for the
        next flush); records added while flushing wait for the next flush. Returns 0 at
        once when another flusher holds the lock.

        Raises:
            StreamUnavailable: Redis failed (records stay where they were).
        """
        token = secrets.token_hex(8)
        async with translated("SET flush lock"):
            if not await self._redis.set(self._keys.flush_lock, token, nx=True, px=self._lock_ttl_ms):
                return 0
        try:
            sent = await self._flush(hub, max_batch=max(1, max_batch))
        except BaseException:
            # The lock lapses on its own; a failed release must not hide what went wrong
            # (above all a cancellation).
            with contextlib.suppress(StreamUnavailable):
                await self._release(token)
            raise
        await self._release(token)
        await self._update_gauges()
        return sent

    async def _release(self, token: str) -> None:
        async with translated("release flush lock"):
            await self._redis.eval(_RELEASE, 1, self._keys.flush_lock, token)

    async def _flush(self, hub: HubClient, *, max_batch: int) -> int:
        async with translated("XREVRANGE consumption"):
            last = await self._redis.xrevrange(self._keys.outbox, count=1)
        if not last:
            return 0
        end, start, sent = text(last[0][0]), "-", 0
        while True:
            async with translated("XRANGE consumption"):
                batch = _entries(await self._redis.xrange(self._keys.outbox, min=start, max=end, count=max_batch))
            if not batch:
                return sent
            ok, go_on = await self._send_batch(hub, batch)
            sent += ok
            if not go_on or len(batch) < max_batch:
                return sent
            start = "(" + batch[-1][0]

    async def _send_batch(self, hub: HubClient, batch: Sequence[tuple[str, dict[str, str]]]) -> tuple[int, bool]:
        results = await asyncio.gather(*(self._send(hub, fields) for _, fields in batch), return_exceptions=True)
        # A send that swallows its cancellation (the HTTP stack may) leaves gather with plain
        # results: settle what the Hub took, then honour the cancellation.
        task = asyncio.current_task()
        cancelled = task is not None and task.cancelling() > 0
        accepted: list[str] = []
        rejected: list[tuple[str, dict[str, str], str, int | None]] = []
        go_on = True
        for (entry_id, fields), result in zip(batch, results, strict=True):
            if result is None:
                accepted.append(entry_id)
            elif isinstance(result, HubRejected) and not isinstance(result, HubAuthError):
                rejected.append((entry_id, fields, str(result), result.status))
            elif isinstance(result, _Unreadable):
                rejected.append((entry_id, fields, str(result), None))
            elif isinstance(result, Exception):
                go_on = False
                log.warning(
                    "accounting.report_failed",
                    event_id=fields.get("event_id"),
                    agent_id=fields.get("agent_id"),
                    error=type(result).__name__,
                    detail=str(result),
                )
                self._count_failed("unavailable")
            else:  # a BaseException (cancellation): nothing more is sent, nothing is lost
                raise result
        async with translated("settle consumption"), self._redis.pipeline(transaction=True) as pipe:
            for _entry_id, fields, reason, status in rejected:
                dead: dict[Any, Any] = {**fields, "reason": reason[:500], "status": str(status or "")}
                pipe.xadd(self._keys.dead, dead)
                log.error(
                    "accounting.report_rejected",
                    event_id=fields.get("event_id"),
                    agent_id=fields.get("agent_id"),
                    status=status,
                    reason=reason[:500],
                )
                self._count_failed("rejected")
            done = accepted + [r[0] for r in rejected]
            if done:
                pipe.xdel(self._keys.outbox, *done)
                await pipe.execute()
        if accepted and self._metrics is not None:
            self._metrics.reported.inc(len(accepted))
        log.info("accounting.flushed", sent=len(accepted), rejected=len(rejected), complete=go_on)
        if cancelled:
            raise asyncio.CancelledError
        return len(accepted), go_on

    @staticmethod
    async def _send(hub: HubClient, fields: dict[str, str]) -> None:
        try:
            report = Consumption.model_validate_json(fields.get("report", ""))
            agent_id, event_id = fields["agent_id"], fields["event_id"]
        except (ValidationError, KeyError) as exc:
            raise _Unreadable(f"unreadable outbox record: {exc}") from exc
        await hub.report_consumption(agent_id, report, idempotency_key=event_id)

    def _count_failed(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.report_failed.labels(reason=reason).inc()

    async def _update_gauges(self) -> None:
        if self._metrics is None:
            return
        async with translated("XLEN consumption"), self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self._keys.outbox)
            pipe.xlen(self._keys.dead)
            outbox, dead = await pipe.execute()
        self._metrics.outbox_size.set(outbox)
        self._metrics.dead_size.set(dead)


def _entries(raw: Any) -> list[tuple[str, dict[str, str]]]:
    """Stream entries as ``XRANGE`` returns them, as text."""
    return [(text(entry_id), {text(k): text(v) for k, v in (fields or {}).items()}) for entry_id, fields in raw or ()]


class _Unreadable(Exception):
    """An outbox entry that cannot be parsed (it is dead-lettered, never dropped)."""

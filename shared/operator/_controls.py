"""``Controls``: what an operator may change, each use recorded once in the audit stream.

::

    pause NAME / resume NAME ──► HSET / HDEL {p}:paused NAME {"by", "at"}
    breaker reset NAME       ──► CircuitBreaker.reset (the hash {p}:breaker:{hub id} goes)
    cancel ID                ──► SET {p}:cancel:ID {"by", "at"} EX 1 day
    consumption replay       ──► the refused record back on {p}:consumption:outbox, off the dead stream
          │
          └─ each one also ─► XADD {p}:audit  who action target at result   (in the same MULTI)

An unknown agent or activation raises before anything is written, and nothing is
audited: the audit stream records controls that did something (or found nothing to do,
``result`` says so), never a typo. ``who`` names the caller: ``cli:<OS user>`` or
``http:<X-Operator>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.accounting import AccountingKeys, ConsumptionOutbox, DeadRecord
from shared.errors import BotburrowError
from shared.poller import CircuitBreaker
from shared.streams import Pipeline, Redis, StreamKeys, text, translated
from shared.transcripts import TranscriptStore

from ._keys import CANCEL_TTL_S, OperatorKeys
from ._models import AuditEntry
from ._state import Operator, UnknownAgent

AUDIT_MAXLEN = 100_000
"""The audit stream is trimmed (approximately) to this many entries."""

_SCAN_PER_STREAM = 10_000
_COMES_BACK = frozenset({"deferred", "failed"})  # attempts' ends after which the activation runs again


class UnknownActivation(BotburrowError):
    """No activation of that id is known (no transcript, not waiting on a stream)."""

    def __init__(self, activation_id: str) -> None:
        super().__init__(f"no activation {activation_id!r} is known (no transcript, not waiting on a stream)")
        self.activation_id = activation_id


class UnknownDeadRecord(BotburrowError):
    """No refused consumption record has that entry or event id."""

    def __init__(self, ident: str) -> None:
        super().__init__(f"no refused consumption record matches {ident!r}")
        self.ident = ident


class Controls:
    """Pause, resume, breaker reset, cancel and consumption replay, audited.

    Args:
        redis: the client (bytes replies).
        keys: the stream keys; every key shares their prefix.
        operator: resolves agent names (known, their Hub id).
        clock: epoch seconds.
    """

    def __init__(
        self, redis: Redis, *, keys: StreamKeys, operator: Operator, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ops = OperatorKeys(keys.prefix)
        self._accounts = AccountingKeys(keys.prefix)
        self._operator = operator
        self._clock = clock
        self._breaker = CircuitBreaker(redis, prefix=keys.prefix, clock=clock)
        self._outbox = ConsumptionOutbox(redis, keys=keys)
        self._transcripts = TranscriptStore(redis, keys=keys, clock=clock)

    async def pause(self, name: str, *, who: str) -> AuditEntry:
        """Pause agent ``name``: nothing new is queued for it, and its queued work waits.

        Raises:
            UnknownAgent: no agent of that name is known.
            StreamUnavailable: Redis failed.
        """
        await self._require_agent(name)
        mark = self._mark(who)
        async with translated("HSETNX paused"):
            fresh = bool(await self._redis.hsetnx(self._ops.paused, name, mark))
        return await self._record(who, "pause", name, "paused" if fresh else "already paused")

    async def resume(self, name: str, *, who: str) -> AuditEntry:
        """Resume agent ``name``: its unread notifications are queued at the next poll.

        Raises:
            UnknownAgent: no agent of that name is known.
            StreamUnavailable: Redis failed.
        """
        await self._require_agent(name)
        async with translated("HDEL paused"):
            removed = bool(await self._redis.hdel(self._ops.paused, name))
        return await self._record(who, "resume", name, "resumed" if removed else "was not paused")

    async def reset_breaker(self, name: str, *, who: str) -> AuditEntry:
        """Close agent ``name``'s circuit breaker and forget its failures.

        Raises:
            UnknownAgent: no agent of that name is known.
            StreamUnavailable: Redis failed.
        """
        await self._require_agent(name)
        hub_id = await self._operator.hub_id(name) or name
        had = await self._breaker.reset(hub_id)
        return await self._record(who, "breaker_reset", name, "closed" if had else "was closed")

    async def cancel(self, activation_id: str, *, who: str) -> AuditEntry:
        """Ask activation ``activation_id`` to stop at its next step (or as it starts).

        One whose latest attempt already ended for good (an outcome other than ``deferred``
        or ``failed``, which come back) is left as it is: the audit's result says so.

        Raises:
            UnknownActivation: no transcript of it, and it does not wait on a stream.
            StreamUnavailable: Redis failed.
        """
        attempts = await self._transcripts.attempts(activation_id)
        if not attempts and not await self._waiting(activation_id):
            raise UnknownActivation(activation_id)
        if attempts:
            [latest] = await self._transcripts.heads_and_tails([(activation_id, attempts[-1])])
            outcome = latest.end.get("outcome") if latest is not None and latest.end is not None else None
            if outcome is not None and outcome not in _COMES_BACK:
                return await self._record(who, "cancel", activation_id, f"already finished: {outcome}")
        mark = self._mark(who)
        async with translated("SET cancel"):
            fresh = bool(await self._redis.set(self._ops.cancel(activation_id), mark, nx=True, ex=CANCEL_TTL_S))
        return await self._record(who, "cancel", activation_id, "cancelling" if fresh else "already cancelled")

    async def dead_consumption(self, *, limit: int = 100) -> list[DeadRecord]:
        """The consumption records the Hub refused, oldest first, with the reason.

        Raises:
            StreamUnavailable: Redis failed.
        """
        return await self._outbox.dead(limit=limit)

    async def replay_consumption(self, *, who: str, ident: str | None = None) -> list[AuditEntry]:
        """Put refused records back in the outbox (``ident``: the one with that entry or event id; else all).

        Each replayed record is audited, and leaves the dead stream in the same ``MULTI``.

        Raises:
            UnknownDeadRecord: ``ident`` matches no refused record.
            StreamUnavailable: Redis failed.
        """
        dead = await self._outbox.dead(limit=_SCAN_PER_STREAM)
        chosen = [d for d in dead if ident is None or ident in (d.entry_id, d.event_id)]
        if ident is not None and not chosen:
            raise UnknownDeadRecord(ident)
        done = []
        for record in chosen:

            def replay(pipe: Pipeline, record: DeadRecord = record) -> None:
                fields: dict[Any, Any] = {
                    "agent_id": record.agent_id,
                    "event_id": record.event_id,
                    "report": record.report,
                    "at": self._now().isoformat(),
                }
                pipe.xadd(self._accounts.outbox, fields)
                pipe.xdel(self._accounts.dead, record.entry_id)

            target = record.event_id or record.entry_id
            done.append(await self._record(who, "consumption_replay", target, "back in the outbox", also=replay))
        return done

    async def audit(self, *, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, newest first.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("XREVRANGE audit"):
            raw = await self._redis.xrevrange(self._ops.audit, count=max(1, limit))
        out = []
        for entry_id, fields in raw or ():
            f = {text(k): text(v) for k, v in (fields or {}).items()}
            out.append(
                AuditEntry(
                    id=text(entry_id),
                    who=f.get("who", ""),
                    action=f.get("action", ""),
                    target=f.get("target", ""),
                    at=datetime.fromisoformat(f["at"]) if f.get("at") else datetime.fromtimestamp(0, UTC),
                    result=f.get("result", ""),
                )
            )
        return out

    # -- helpers ------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _mark(self, who: str) -> str:
        """What a pause or a cancellation holds: who, and when (read back by ``Operator``)."""
        return orjson.dumps({"by": who, "at": self._now().isoformat()}).decode()

    async def _require_agent(self, name: str) -> None:
        if not await self._operator.known(name):
            raise UnknownAgent(name)

    async def _waiting(self, activation_id: str) -> bool:
        """Whether an event of that id waits on an activation stream (queued, not started)."""
        for stream in self._keys.activation_streams:
            async with translated("XRANGE activations"):
                entries = await self._redis.xrange(stream, count=_SCAN_PER_STREAM)
            for _entry_id, fields in entries or ():
                try:
                    event: Any = orjson.loads((fields or {}).get(b"event", b"{}"))
                except orjson.JSONDecodeError:
                    continue
                if isinstance(event, dict) and event.get("id") == activation_id:
                    return True
        return False

    async def _record(
        self, who: str, action: str, target: str, result: str, *, also: Callable[[Pipeline], None] | None = None
    ) -> AuditEntry:
        at = self._now()
        fields = {"who": who, "action": action, "target": target, "at": at.isoformat(), "result": result}
        async with translated("XADD audit"), self._redis.pipeline(transaction=True) as pipe:
            if also is not None:
                also(pipe)
            pipe.xadd(self._ops.audit, fields, maxlen=AUDIT_MAXLEN, approximate=True)  # type: ignore[arg-type]
            replies = await pipe.execute()
        return AuditEntry(id=text(replies[-1]), who=who, action=action, target=target, at=at, result=result)

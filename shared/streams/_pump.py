"""The pump: claims entries, serialises them per agent, runs the handler, settles.

One pump is one consumer of the group. Its tasks:

- claim: reads up to the free slots (weighted across priorities), admits entries;
- settle: writes the fate of finished entries, one script call per batch;
- heartbeat: extends leases and resets idle times of every entry held;
- reclaim: takes over entries (and agent leases) of runners gone silent;
- promote, trim, status, prune: housekeeping (``_housekeeping``).

Admission of a claimed entry:

1. malformed, or past ``max_deliveries`` → dead letter;
2. no subject → runs without a lease;
3. this pump already holds the agent → waits behind it, in stream order;
4. else the agent's lease is taken (one script per batch): acquired → runs;
   held by another runner → back on the stream after a delay (``deferred``).

On stop: claiming stops at once, entries that never started go back on their stream,
running handlers get ``grace_period_s`` to finish, the rest are cancelled and handed
back, and the last settlements are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable

import structlog

from shared.errors import StreamUnavailable

from . import _settle as settle
from ._admin import ensure_groups, transport_groups
from ._claim import Claimer
from ._config import StreamSettings
from ._delivery import Delivery, Handler, set_delivery
from ._entries import AgentSlot, Entry
from ._housekeeping import Housekeeping
from ._keys import StreamKeys
from ._leases import Holding, Leases, lease_value
from ._metrics import StreamMetrics
from ._policy import defer_delay, run_handler
from ._redis import Redis, Scripts
from ._route import Route
from ._tasks import Backoff, cancel_and_wait, every

log = structlog.get_logger("botburrow.pump")

SETTLE_BATCH_MAX = 256
FLUSH_TIMEOUT_S = 10.0


class Pump:
    """One consumer of a group feeding one handler: by default, a runner on the activation streams.

    ``route`` says what else to consume (``Route.results`` for the metrics function).
    ``max_events`` makes a one-shot pump (a Job's): it stops claiming and drains once
    that many entries are settled (handled, retried, deferred or dead-lettered).
    """

    def __init__(
        self,
        *,
        redis: Redis,
        keys: StreamKeys,
        settings: StreamSettings,
        handler: Handler,
        consumer: str,
        metrics: StreamMetrics,
        concurrency: int = 16,
        grace_period_s: float = 30.0,
        route: Route | None = None,
        max_events: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_events is not None and max_events < 1:
            raise ValueError("max_events must be at least 1")
        self._max_events = max_events
        self.claimed = 0  # entries claimed (new or reclaimed) since the start
        self.settled = 0  # entries settled since the start
        self._redis = redis
        self._keys = keys
        self._cfg = settings
        self._handler = handler
        self._consumer = consumer
        self._metrics = metrics
        self._concurrency = concurrency
        self._grace_period_s = grace_period_s
        self._scripts = Scripts(redis)
        self._route = route or Route.activations(keys, settings)
        streams = self._route.streams
        group = self._route.group
        self._claimer = Claimer(
            redis,
            self._scripts,
            streams=streams,
            weights=dict(self._route.weights),
            group=group,
            consumer=consumer,
            block_ms=settings.block_ms,
        )
        self._leases = Leases(
            redis, self._scripts, keys, ttl_ms=settings.lease_key_ttl_ms, group=group, consumer=consumer
        )
        self._housekeeping = Housekeeping(
            redis, self._scripts, keys, settings, metrics, consumer=consumer, streams=streams, group=group
        )
        # Label children bound once: labels() costs more than the increment on this path.
        self._settled_by = {a: metrics.settled.labels(a.value) for a in settle.Action}
        self._latency_by = {s: metrics.dispatch_latency.labels(s) for s in streams}
        self._held = 0
        self._space = asyncio.Event()
        self._space.set()
        self._slots: dict[str, AgentSlot] = {}
        self._unleased: set[Entry] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._queue: list[settle.Settlement] = []
        self._settling: list[settle.Settlement] = []  # the batch being written
        self._queued = asyncio.Event()
        self._settled = asyncio.Event()
        self._admit_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._closing = False
        self._ready = asyncio.Event()

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams this pump consumes (its route's), in claim order."""
        return self._route.streams

    @property
    def consumer(self) -> str:
        """This pump's consumer name in the group."""
        return self._consumer

    @property
    def held(self) -> int:
        """Entries this pump holds now (running, waiting behind their agent, or settling)."""
        return self._held

    @property
    def ready(self) -> bool:
        """Whether the pump has set up its groups and scripts and is claiming."""
        return self._ready.is_set() and not self._stopping.is_set()

    async def wait_ready(self) -> None:
        """Return once the pump has set up its groups and scripts and is claiming."""
        await self._ready.wait()

    def stop(self) -> None:
        """Stop claiming at once and drain (safe to call from a signal handler)."""
        self._stopping.set()
        self._space.set()  # wake a claim loop waiting for a free slot, so it sees the stop

    async def run(self) -> None:
        """Run until ``stop()``; returns after the drain.

        If one of the pump's own loops crashes (a bug), the pump drains as on SIGTERM
        and then re-raises, so the process exits non-zero and is restarted.
        """
        await self._setup()
        keep = [
            asyncio.create_task(self._settle_loop(), name="settle"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
        ]
        claiming = [
            asyncio.create_task(self._claim_loop(), name="claim"),
            asyncio.create_task(every(self._cfg.reclaim_every_s, self._reclaim, until=self._stopping), name="reclaim"),
            *self._housekeeping.start(until=self._stopping),
        ]
        stop = asyncio.create_task(self._stopping.wait(), name="stop")
        crashed: BaseException | None = None
        try:
            self._ready.set()
            done, _ = await asyncio.wait([stop, *keep, *claiming], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stop}:
                error = task.exception() if not task.cancelled() else None
                if error is not None:
                    log.error("pump.loop_crashed", loop=task.get_name(), error=repr(error), exc_info=error)
                    crashed = crashed or error
            self.stop()
            # The claim, reclaim and housekeeping loops notice the stop at their next step
            # (a blocking read returns within block_ms; what it brings is handed back).
            # They are not cancelled: a cancel landing inside an admission would leave
            # entries claimed but neither started nor handed back.
            await self._drain(loops=claiming)
        finally:
            self._closing = True
            self._queued.set()
            await cancel_and_wait([stop, *claiming, *keep, *self._tasks])
        log.info("pump.stopped", consumer=self._consumer)
        if crashed is not None:
            raise crashed

    async def _setup(self) -> None:
        await self._ensure_groups()
        await self._scripts.load()
        log.info("pump.started", consumer=self._consumer, concurrency=self._concurrency)

    async def _ensure_groups(self) -> None:
        groups = transport_groups(self._keys, group=self._cfg.group, results_group=self._cfg.results_group)
        await ensure_groups(self._redis, groups)

    # -- claiming ---------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff(base_s=0.05)
        while not self._stopping.is_set():
            await self._space.wait()
            if self._stopping.is_set():
                return
            room = self._concurrency - self._held
            if self._max_events is not None:
                room = min(room, self._max_events - self.claimed)
                if room <= 0:  # a one-shot pump has what it came for: it stops once that is settled
                    await self._stopping.wait()
                    return
            try:
                entries = await self._claimer.claim(room)
            except StreamUnavailable as exc:
                delay_s = backoff.failed()
                if backoff.loggable:  # Redis down for a while: a few lines, not one per try
                    log.warning("pump.claim_failed", error=str(exc), consecutive=backoff.failures)
                if "NOGROUP" in str(exc):  # a stream (and its group) was deleted under us
                    log.warning("pump.recreating_groups")
                    with contextlib.suppress(StreamUnavailable):
                        await self._ensure_groups()
                await asyncio.sleep(delay_s)
                continue
            if failures := backoff.succeeded():
                log.info("pump.claim_recovered", failures=failures)
            self._count_claims(entries, "new")
            await self._admit(entries)

    async def _reclaim(self) -> None:
        free = self._concurrency - self._held
        if self._max_events is not None:
            free = min(free, self._max_events - self.claimed)
        if free <= 0:
            return
        entries = await self._claimer.reclaim(free, min_idle_ms=self._cfg.lease_ttl_ms)
        async with self._admit_lock:  # an admission under way holds entries not yet in a slot
            entries = self._not_held(entries)
        if entries:
            self._count_claims(entries, "reclaimed")
            log.info(
                "pump.reclaimed",
                entries=len(entries),
                consumer=self._consumer,
                event_ids=[_event_id(e) for e in entries],
            )
            await self._admit(entries)

    def _not_held(self, reclaimed: list[Entry]) -> list[Entry]:
        """``reclaimed`` less the entries this pump holds already.

        After Redis was unreachable for longer than the lease ttl, the entries this pump
        was running or settling look idle, and its own reclaim takes them (to itself):
        they are being handled here and their settlement is queued, so running them again
        would only repeat the work.
        """
        held = {(e.stream, e.entry_id) for e in self._holding()}
        ours = [e for e in reclaimed if (e.stream, e.entry_id) in held]
        if ours:
            log.info("pump.reclaimed_own", entries=len(ours), note="held here already; not run again")
        return [e for e in reclaimed if (e.stream, e.entry_id) not in held]

    def _holding(self) -> Iterable[Entry]:
        for slot in self._slots.values():
            yield from slot.entries()
        yield from self._unleased
        yield from (s.entry for s in (*self._queue, *self._settling))

    def _count_claims(self, entries: list[Entry], how: str) -> None:
        self.claimed += len(entries)
        for stream, n in Counter(e.stream for e in entries).items():
            self._metrics.claimed.labels(stream, how).inc(n)

    async def _admit(self, entries: list[Entry]) -> None:
        """Decide for each claimed entry: dead letter, run, wait behind its agent, or defer."""
        if not entries:
            return
        async with self._admit_lock:
            self._take(len(entries))
            wanted: dict[str, list[Entry]] = {}
            for e in entries:
                agent = self._triage(e)
                if agent is not None:
                    wanted.setdefault(agent, []).append(e)
            if wanted:
                await self._lease_and_start(wanted)

    def _triage(self, e: Entry) -> str | None:
        """Settle or place ``e`` if that needs no lease; else return the agent to lease."""
        if e.invalid is not None:
            self._submit(settle.dead(e, f"malformed entry: {e.invalid.field}: {e.invalid.problem}"))
        elif self._stopping.is_set():
            # Claimed as the stop came (a cancel can be lost inside redis-py on
            # Python 3.11): hand it straight back rather than start it.
            self._submit(settle.requeue(e, counted=False))
        elif e.deliveries > self._cfg.max_deliveries:
            reason = f"gave up after {e.deliveries - 1} deliveries (max_deliveries={self._cfg.max_deliveries})"
            last = e.last_error or "the runner handling the last delivery died or stalled"
            self._submit(settle.dead(e, reason, last_error=last))
        elif (agent := e.agent) is None or not self._route.serialise:
            self._unleased.add(e)
            self._start(e)
        elif agent in self._slots:
            e.slot = self._slots[agent]
            e.slot.waiting.append(e)
        else:
            return agent
        return None

    async def _lease_and_start(self, wanted: dict[str, list[Entry]]) -> None:
        """Take the leases of ``wanted`` agents in one script; start or defer their entries."""
        try:
            # Take over a lease this runner still holds (its release may be in flight) or,
            # for reclaimed entries, one the silent runner held.
            takeover = {a: batch[0].previous_owner or self._consumer for a, batch in wanted.items()}
            tokens = await self._leases.acquire(list(wanted), takeover)
        except StreamUnavailable as exc:
            # The entries stay pending in Redis under this consumer; once idle past
            # the lease ttl any runner reclaims them. Nothing is lost.
            held = sum(map(len, wanted.values()))
            log.warning("pump.lease_acquire_failed", error=str(exc), entries=held)
            self._give_back(held)
            return
        for agent, batch in wanted.items():
            token = tokens[agent]
            if token and self._stopping.is_set():
                # The stop came while the leases were being taken: hand back, release.
                slot = AgentSlot(agent, self._keys.lease(agent), token, lease_value(token, self._consumer))
                self._slots[agent] = slot
                for e in batch:
                    e.slot = slot
                    slot.waiting.append(e)
                for e in batch:
                    self._submit(settle.requeue(e, counted=False))
            elif token:
                self._metrics.leases.labels("acquired").inc()
                slot = AgentSlot(
                    agent=agent,
                    lease_key=self._keys.lease(agent),
                    token=token,
                    value=lease_value(token, self._consumer),
                )
                self._slots[agent] = slot
                for e in batch:
                    e.slot = slot
                slot.waiting.extend(batch[1:])
                self._start(batch[0])
            else:
                self._metrics.leases.labels("busy").inc()
                for e in batch:
                    delay = defer_delay(self._cfg, e)
                    log.debug(
                        "event.deferred",
                        event_id=_event_id(e),
                        agent_id=agent,
                        deferrals=e.deferrals,
                        delay_s=round(delay, 3),
                    )
                    self._submit(settle.requeue(e, delay_s=delay, counted=False, deferred=True))

    # -- running ----------------------------------------------------------------

    def _start(self, e: Entry) -> None:
        if e.slot is not None:
            e.slot.current = e
        e.task = asyncio.create_task(self._execute(e), name=f"handle {e.stream} {e.entry_id}")
        self._tasks.add(e.task)
        e.task.add_done_callback(self._tasks.discard)

    async def _execute(self, e: Entry) -> None:
        assert e.event is not None
        slot = e.slot
        set_delivery(
            Delivery(
                stream=e.stream,
                entry_id=e.entry_id,
                deliveries=e.deliveries,
                consumer=self._consumer,
                lease_key=slot.lease_key if slot else None,
                fencing_token=slot.token if slot else None,
            )
        )
        started = time.time()
        log.debug("handler.started", event_id=e.event["id"], agent_id=e.agent, deliveries=e.deliveries)
        self._latency_by[e.stream].observe(max(0.0, started - _published_at(e)))
        try:
            outcome = await run_handler(self._handler, e, self._cfg, self._metrics)
        except asyncio.CancelledError:
            # Stopped past the grace period, or the lease was lost: hand the event back.
            self._submit(settle.requeue(e, counted=True, last_error="handler cancelled before it finished"))
            raise
        finally:
            self._metrics.handler_duration.observe(time.time() - started)
        self._submit(outcome)

    # -- settling ---------------------------------------------------------------

    def _submit(self, s: settle.Settlement) -> None:
        """Queue ``s``; move the entry's agent on to its next entry, or release the lease."""
        e = s.entry
        self._unleased.discard(e)
        slot = e.slot
        if slot is not None:
            if slot.current is e:
                slot.current = None
            elif e in slot.waiting:
                slot.waiting.remove(e)
            if slot.current is None:
                if slot.waiting and not slot.lost and not self._stopping.is_set():
                    self._start(slot.waiting.popleft())
                elif not slot.waiting and self._slots.get(slot.agent) is slot:
                    del self._slots[slot.agent]
                    s.release = slot.value
        self._queue.append(s)
        self._queued.set()

    async def _settle_loop(self) -> None:
        while not self._closing:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch, self._queue = self._queue[:SETTLE_BATCH_MAX], self._queue[SETTLE_BATCH_MAX:]
                self._settling = batch
                try:
                    await self._settle(batch)
                finally:
                    self._settling = []
            self._settled.set()

    async def _settle(self, batch: list[settle.Settlement]) -> None:
        """Write ``batch`` in one script call; retry until Redis takes it (settling twice changes nothing)."""
        script_keys, args = settle.settle_call(batch, self._keys, group=self._route.group, consumer=self._consumer)
        backoff = Backoff(base_s=0.025)
        while True:
            try:
                replies = await self._scripts.call("settle", script_keys, args)
                break
            except StreamUnavailable as exc:
                delay_s = backoff.failed()
                if backoff.loggable:
                    log.warning("pump.settle_failed", error=str(exc), entries=len(batch), consecutive=backoff.failures)
                await asyncio.sleep(delay_s)
        if failures := backoff.succeeded():
            log.info("pump.settle_recovered", entries=len(batch), failures=failures)
        self.settled += len(batch)
        if self._max_events is not None and self.settled >= self._max_events:
            self.stop()  # before the slots are given back, so nothing more is claimed
        for s, reply in zip(batch, replies, strict=True):
            self._settled_by[s.action].inc()
            if not reply:
                self._metrics.not_owned.inc()
            elif s.action is settle.Action.DEAD:
                self._metrics.deadlettered.labels(_reason_label(s.reason)).inc()
                log.warning(
                    "event.deadlettered",
                    entry_id=s.entry.entry_id,
                    stream=s.entry.stream,
                    reason=s.reason,
                    deliveries=s.entry.deliveries,
                    last_error=s.last_error,
                )
        self._give_back(len(batch))

    def _take(self, n: int) -> None:
        self._held += n
        self._metrics.in_flight.set(self._held)
        if self._held >= self._concurrency and not self._stopping.is_set():  # after a stop, stay awake
            self._space.clear()

    def _give_back(self, n: int) -> None:
        self._held -= n
        self._metrics.in_flight.set(self._held)
        if self._held < self._concurrency:
            self._space.set()

    # -- keeping work alive ---------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        backoff = Backoff(base_s=self._cfg.heartbeat_every_s)  # only for what it logs: the beat keeps its pace
        while not self._closing:
            await asyncio.sleep(self._cfg.heartbeat_every_s)
            try:
                await self._heartbeat()
            except StreamUnavailable as exc:
                backoff.failed()
                if backoff.loggable:
                    log.warning("pump.heartbeat_failed", error=str(exc), consecutive=backoff.failures)
                continue
            if failures := backoff.succeeded():
                log.info("pump.heartbeat_recovered", failures=failures)

    async def _heartbeat(self) -> None:
        holdings: list[Holding] = []
        owners: dict[int, AgentSlot] = {}
        for slot in list(self._slots.values()):
            for stream, ids in _by_stream(slot.entries()).items():
                owners[len(holdings)] = slot
                holdings.append(Holding(stream, ids, slot.lease_key, slot.value))
        for stream, ids in _by_stream(list(self._unleased)).items():
            holdings.append(Holding(stream, ids))
        for i, result in enumerate(await self._leases.heartbeat(holdings)):
            owner = owners.get(i)
            # A slot released while the heartbeat was in flight finds its lease gone: not a loss.
            if result.lease_lost and owner is not None and self._slots.get(owner.agent) is owner and not owner.lost:
                self._lose(owner)
            for entry_id in result.lost_ids:
                self._abandon(result.holding.stream, entry_id)

    def _lose(self, slot: AgentSlot) -> None:
        """The lease expired under us (a stall longer than its ttl): stop the agent's work."""
        slot.lost = True
        self._metrics.leases.labels("lost").inc()
        log.error("pump.lease_lost", agent_id=slot.agent, token=slot.token)
        for e in list(slot.waiting):
            self._submit(settle.requeue(e, counted=False))
        if slot.current is not None and slot.current.task is not None:
            slot.current.task.cancel("agent lease lost")

    def _abandon(self, stream: str, entry_id: str) -> None:
        """Another consumer claimed one of our entries: stop working on it."""
        for e in [*self._unleased, *(x for s in self._slots.values() for x in s.entries())]:
            if e.stream == stream and e.entry_id == entry_id:
                log.error("pump.entry_taken", stream=stream, entry_id=entry_id)
                if e.task is not None and not e.task.done():
                    e.task.cancel("entry claimed by another consumer")
                else:
                    self._submit(settle.requeue(e, counted=False))
                return

    # -- stopping ---------------------------------------------------------------

    async def _drain(self, *, loops: list[asyncio.Task[None]]) -> None:
        """Hand back what never started, let running handlers finish, then flush.

        ``loops`` (claim, reclaim, housekeeping) wind down meanwhile; they must be done
        before the flush, since whatever they claimed last is handed back too.
        """
        log.info("pump.draining", running=len(self._tasks), held=self._held, grace_period_s=self._grace_period_s)
        for slot in list(self._slots.values()):
            for e in list(slot.waiting):
                self._submit(settle.requeue(e, counted=False))
        deadline = time.monotonic() + self._grace_period_s
        running = set(self._tasks)
        if running:
            _, late = await asyncio.wait(running, timeout=self._grace_period_s)
            if late:
                log.warning("pump.cancelled_at_grace", handlers=len(late))
                await cancel_and_wait(late, reason="grace period over")
        _, stuck = await asyncio.wait(loops, timeout=max(self._cfg.block_ms / 1000 + 5, deadline - time.monotonic()))
        if stuck:
            await cancel_and_wait(stuck)
        await self._flush()

    async def _flush(self) -> None:
        """Wait until every submitted settlement is written (bounded if Redis is down)."""
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while self._held > 0 and time.monotonic() < deadline:
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self._settled.wait()
        if self._held > 0:
            log.error("pump.flush_incomplete", held=self._held, note="left pending; reclaimed after the lease ttl")


def _by_stream(entries: Iterable[Entry]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for e in entries:
        grouped.setdefault(e.stream, []).append(e.entry_id)
    return {s: tuple(ids) for s, ids in grouped.items()}


def _published_at(e: Entry) -> float:
    """When this entry was published: its id carries Redis's clock in milliseconds."""
    return int(e.entry_id.split("-", 1)[0]) / 1000


def _event_id(e: Entry) -> str | None:
    return str(e.event["id"]) if e.event is not None else None


def _reason_label(reason: str) -> str:
    """A low-cardinality label for a dead-letter reason."""
    for prefix, label in (
        ("malformed", "malformed"),
        ("gave up", "abandoned"),
        ("failed", "failed"),
        ("handler rejected", "rejected"),
    ):
        if reason.startswith(prefix):
            return label
    return "other"

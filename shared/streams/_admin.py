"""Stream housekeeping: groups up front, delayed entries, trimming, status, consumers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from redis import exceptions as redis_errors

from ._keys import StreamKeys
from ._redis import Redis, Scripts, text, translated


async def ensure_groups(redis: Redis, groups: Mapping[str, str]) -> None:
    """Create each stream's consumer group at id 0, creating the stream too.

    Done up front because KEDA counts a whole stream as lag while its group is
    missing. An existing group (BUSYGROUP) is left as it is.
    """
    for stream, group in groups.items():
        async with translated(f"XGROUP CREATE {stream}"):
            try:
                await redis.xgroup_create(stream, group, id="0", mkstream=True)
            except redis_errors.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise


def transport_groups(keys: StreamKeys, *, group: str, results_group: str) -> dict[str, str]:
    """Which group each stream of the transport gets."""
    return {**dict.fromkeys(keys.activation_streams, group), keys.results: results_group}


def delayed_member(fields: Mapping[bytes, bytes]) -> bytes:
    """Encode entry fields as a delayed-set member (a JSON array promote.lua unpacks)."""
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name.decode(), value.decode("utf-8", "replace")]
    return json.dumps(flat, separators=(",", ":"), ensure_ascii=False).encode()


async def promote_due(redis: Redis, scripts: Scripts, streams: Iterable[str], *, limit: int = 500) -> int:
    """Move delayed entries whose time has come back onto their streams; how many moved."""
    pipe = redis.pipeline(transaction=False)
    names = list(streams)
    for stream in names:
        scripts.queue(pipe, "promote", [StreamKeys.delayed(stream), stream], [limit])
    moved = 0
    for reply in await scripts.execute(pipe, "promote"):
        if isinstance(reply, Exception):
            raise reply
        moved += int(reply)
    return moved


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What an operator (or KEDA) wants to know about one stream and its group.

    ``lag`` is None when Redis cannot tell (after an ``XDEL`` of an undelivered entry).
    """

    stream: str
    length: int
    lag: int | None
    pending: int
    delayed: int
    consumers: int


async def stream_status(redis: Redis, stream: str, group: str) -> StreamStatus:
    """Length, group lag and pending count, delayed entries, consumers of ``stream``."""
    async with translated(f"XINFO GROUPS {stream}"):
        pipe = redis.pipeline(transaction=False)
        pipe.xlen(stream)
        pipe.xinfo_groups(stream)
        pipe.zcard(StreamKeys.delayed(stream))
        length, groups, delayed = await pipe.execute(raise_on_error=False)
    if isinstance(groups, redis_errors.ResponseError):  # no such stream yet
        groups = []
    mine = next((g for g in groups if text(g.get("name")) == group), None)
    return StreamStatus(
        stream=stream,
        length=int(length) if isinstance(length, int) else 0,
        lag=(int(mine["lag"]) if mine and mine.get("lag") is not None else None) if mine else 0,
        pending=int(mine["pending"]) if mine else 0,
        delayed=int(delayed) if isinstance(delayed, int) else 0,
        consumers=int(mine["consumers"]) if mine else 0,
    )


@dataclass(frozen=True, slots=True)
class TransportStatus:
    """The status of several streams at once, and the size of the dead-letter stream."""

    streams: tuple[StreamStatus, ...]
    dlq_size: int


async def transport_status(redis: Redis, keys: StreamKeys, groups: Mapping[str, str]) -> TransportStatus:
    """``stream_status`` of each stream in ``groups`` (stream -> its group), and ``XLEN`` of the DLQ.

    Raises:
        StreamUnavailable: Redis failed.
    """
    statuses = [await stream_status(redis, stream, group) for stream, group in groups.items()]
    async with translated("XLEN dlq"):
        dlq_size = int(await redis.xlen(keys.dlq))
    return TransportStatus(streams=tuple(statuses), dlq_size=dlq_size)


def _next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _older(a: str, b: str) -> str:
    pa, pb = (tuple(int(x) for x in i.split("-")) for i in (a, b))
    return a if pa <= pb else b


async def trim_acknowledged(redis: Redis, stream: str) -> int:
    """Trim history every group of ``stream`` has acknowledged; never an undelivered entry.

    The cut is the oldest entry still pending in any group, or the entry after the
    last one delivered: everything before it was delivered and acknowledged by all
    groups. A stream without groups is left alone (nothing there is acknowledged).
    Both bounds only move forward, so reading them before trimming is safe.
    """
    async with translated(f"trim {stream}"):
        try:
            groups = await redis.xinfo_groups(stream)
        except redis_errors.ResponseError:
            return 0
        if not groups:
            return 0
        cut: str | None = None
        for g in groups:
            bound = _next_id(text(g["last-delivered-id"]))
            if int(g["pending"]):
                # Read after the group info: whatever was delivered since has an id past
                # last-delivered-id, so an empty answer (all acked meanwhile) is safe too.
                summary = await redis.xpending(stream, text(g["name"]))
                if summary["min"] is not None:
                    bound = _older(bound, text(summary["min"]))
            cut = bound if cut is None else _older(cut, bound)
        if cut is None or cut == "0-1":
            return 0
        return int(await redis.xtrim(stream, minid=cut, approximate=False))


async def prune_consumers(redis: Redis, stream: str, group: str, *, idle_s: float, keep: str) -> list[str]:
    """Remove consumers with nothing pending that have been silent ``idle_s`` (dead pods)."""
    removed = []
    async with translated(f"XINFO CONSUMERS {stream}"):
        try:
            consumers = await redis.xinfo_consumers(stream, group)
        except redis_errors.ResponseError:
            return []
        for c in consumers:
            name = text(c["name"])
            if name != keep and int(c["pending"]) == 0 and int(c["idle"]) >= idle_s * 1000:
                await redis.xgroup_delconsumer(stream, group, name)
                removed.append(name)
    return removed

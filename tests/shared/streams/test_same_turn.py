"""``SameTurn`` and ``TurnBatch``: what the callers of one event-loop turn ask goes to Redis once."""

from __future__ import annotations

import asyncio

import pytest

from shared.streams import SameTurn, TurnBatch


class _Reads:
    """A read that logs when it is sent, and blocks until released."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.sent = 0
        self.release = asyncio.Event()
        self.release.set()
        self.error: BaseException | None = None

    async def __call__(self, key: str) -> str:
        self.sent += 1
        n = self.sent
        self.log.append(f"read {key}")
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return f"{key}#{n}"


async def test_callers_of_one_turn_share_one_read_sent_after_every_one_asked() -> None:
    reads = _Reads()
    shared = SameTurn(reads)

    async def ask(i: int) -> str:
        reads.log.append(f"ask {i}")
        return await shared("a")

    answers = await asyncio.gather(*(ask(i) for i in range(8)), shared("b"))
    assert answers == ["a#1"] * 8 + ["b#2"]
    assert reads.sent == 2, "one read per key"
    assert reads.log.index("read a") > max(reads.log.index(f"ask {i}") for i in range(8))


async def test_a_caller_after_the_read_was_sent_waits_for_a_read_of_its_own() -> None:
    reads = _Reads()
    reads.release.clear()
    shared = SameTurn(reads)
    first = asyncio.create_task(shared("a"))
    while reads.sent == 0:
        await asyncio.sleep(0)
    second = asyncio.create_task(shared("a"))  # the first read is under way: not fresh enough
    await asyncio.sleep(0.01)
    reads.release.set()
    assert (await first, await second) == ("a#1", "a#2")


async def test_the_reads_error_is_every_callers() -> None:
    reads = _Reads()
    reads.error = ConnectionError("redis down")
    shared = SameTurn(reads)
    results = await asyncio.gather(*(shared("a") for _ in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert reads.sent == 1


async def test_when_the_reading_caller_is_cancelled_the_others_read_for_themselves() -> None:
    reads = _Reads()
    reads.release.clear()
    shared = SameTurn(reads)
    reader = asyncio.create_task(shared("a"))
    others = [asyncio.create_task(shared("a")) for _ in range(2)]
    while reads.sent == 0:
        await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await asyncio.sleep(0)
    reads.release.set()
    assert sorted(await asyncio.gather(*others)) == ["a#2", "a#3"]


async def test_a_waiting_caller_cancelled_leaves_the_others_answered() -> None:
    reads = _Reads()
    reads.release.clear()
    shared = SameTurn(reads)
    reader = asyncio.create_task(shared("a"))
    quitter, stayer = asyncio.create_task(shared("a")), asyncio.create_task(shared("a"))
    while reads.sent == 0:
        await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.sleep(0)
    reads.release.set()
    assert (await reader, await stayer) == ("a#1", "a#1")
    assert quitter.cancelled()


async def test_items_of_one_turn_are_written_by_one_flush_each_caller_getting_its_result() -> None:
    flushes: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushes.append(list(items))
        return [i * 10 for i in items]

    batch: TurnBatch[int, int] = TurnBatch(flush)
    assert await asyncio.gather(*(batch(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert await batch(7) == 70
    assert flushes == [[0, 1, 2, 3, 4], [7]]


async def test_a_cancelled_caller_cannot_cut_the_flush_short_and_errors_are_every_callers() -> None:
    release = asyncio.Event()
    written: list[int] = []

    async def flush(items: list[int]) -> list[None]:
        await release.wait()
        written.extend(items)
        if 99 in items:
            raise ConnectionError("redis down")
        return [None] * len(items)

    batch: TurnBatch[int, None] = TurnBatch(flush)
    quitter, stayer = asyncio.create_task(batch(1)), asyncio.create_task(batch(2))
    await asyncio.sleep(0.01)
    quitter.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await stayer is None
    assert quitter.cancelled() and written == [1, 2], "the cancelled caller's item was written all the same, once"
    results = await asyncio.gather(batch(3), batch(99), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]

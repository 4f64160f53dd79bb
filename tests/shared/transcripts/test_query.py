"""Activation history over the transcripts' index: filters, newest first, bounded, JSON-ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.streams import Redis, StreamKeys
from shared.transcripts import TranscriptStore, parse_since

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def record(
    redis: Redis,
    keys: StreamKeys,
    *,
    at: datetime,
    ident: str,
    agent: str,
    end: dict[str, object] | None,
    attempt: int = 1,
) -> None:
    store = TranscriptStore(redis, keys=keys, clock=lambda: at.timestamp())
    t = store.open(activation_id=ident, attempt=attempt, agent=agent, kind="inbox")
    t.add("note", text="working")
    if end is not None:
        t.add("end", **end)
    await t.flush()


@pytest.fixture
async def history(redis: Redis, keys: StreamKeys) -> TranscriptStore:
    replied = {"outcome": "replied", "calls": 2, "cost_usd": 0.0123, "usage": {}}
    failed = {"outcome": "failed", "calls": 1, "cost_usd": 0.002, "error": "boom"}
    await record(redis, keys, at=T0, ident="act-1", agent="ana", end=replied)
    await record(redis, keys, at=T0 + timedelta(minutes=5), ident="act-2", agent="bob", end=failed)
    await record(redis, keys, at=T0 + timedelta(minutes=6), ident="act-2", agent="bob", end=replied, attempt=2)
    await record(redis, keys, at=T0 + timedelta(minutes=10), ident="act-3", agent="ana", end=None)
    return TranscriptStore(redis, keys=keys)


async def test_every_attempt_newest_first_with_its_outcome_cost_and_calls(history: TranscriptStore) -> None:
    rows = await history.list()
    assert [(r.activation_id, r.attempt) for r in rows] == [("act-3", 1), ("act-2", 2), ("act-2", 1), ("act-1", 1)]
    running, _, failed, first = rows
    assert (running.agent, running.kind, running.outcome, running.cost_usd, running.calls) == (
        "ana",
        "inbox",
        None,
        None,
        None,
    )
    assert (failed.outcome, failed.cost_usd, failed.calls) == ("failed", 0.002, 1)
    assert first.started == T0
    assert first.as_dict() == {
        "activation_id": "act-1",
        "attempt": 1,
        "agent": "ana",
        "kind": "inbox",
        "started": "2026-12-03T09:00:00+00:00",
        "outcome": "replied",
        "cost_usd": 0.0123,
        "calls": 2,
    }


async def test_filters_by_agent_outcome_start_and_limit(history: TranscriptStore) -> None:
    assert [r.activation_id for r in await history.list(agent="ana")] == ["act-3", "act-1"]
    assert [(r.activation_id, r.attempt) for r in await history.list(outcome="replied")] == [("act-2", 2), ("act-1", 1)]
    assert [r.activation_id for r in await history.list(outcome="running")] == ["act-3"]
    since = await history.list(since=T0 + timedelta(minutes=5))
    assert [(r.activation_id, r.attempt) for r in since] == [("act-3", 1), ("act-2", 2), ("act-2", 1)]
    assert [r.activation_id for r in await history.list(limit=1)] == ["act-3"]
    assert await history.list(agent="nobody") == []
    with pytest.raises(ValueError, match="limit=0"):
        await history.list(limit=0)


async def test_a_filter_pages_through_the_index_beyond_one_page(redis: Redis, keys: StreamKeys) -> None:
    for n in range(250):
        await record(redis, keys, at=T0 + timedelta(seconds=n), ident=f"busy-{n}", agent="busy", end=None)
    await record(redis, keys, at=T0 - timedelta(hours=1), ident="rare", agent="quiet", end=None)
    rows = await TranscriptStore(redis, keys=keys).list(agent="quiet")
    assert [r.activation_id for r in rows] == ["rare"]


def test_since_takes_iso_8601_or_relative_times() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_since("1h", now=now) == now - timedelta(hours=1)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("2d", now=now) == now - timedelta(days=2)
    assert parse_since("2026-12-03T09:00Z", now=now) == datetime(2026, 12, 3, 9, tzinfo=UTC)
    assert parse_since("2026-12-03T09:00:00+01:00", now=now) == datetime(2026, 12, 3, 8, tzinfo=UTC)
    assert parse_since("2026-12-03", now=now) == datetime(2026, 12, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"'yesterday'.*ISO 8601.*relative"):
        parse_since("yesterday", now=now)

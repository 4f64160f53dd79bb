"""``Operator`` and ``Controls`` against a real redis-server, and the CLI commands over them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.accounting import AccountingKeys, LiveSpend
from shared.cli import main
from shared.events import Priority
from shared.operator import Controls, Operator, Steering, UnknownActivation, UnknownAgent
from shared.poller import CircuitBreaker
from shared.streams import Redis, StreamKeys, text
from shared.transcripts import TranscriptStore


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys) -> StreamKeys:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("STREAM_PREFIX", keys.prefix)
    return keys


async def seen(redis: Redis, keys: StreamKeys, **agents: str) -> None:
    """The poller saw these agents (name=hub id)."""
    await redis.hset(f"{keys.prefix}:poller:agents", mapping={hub_id: name for name, hub_id in agents.items()})


async def open_breaker(redis: Redis, keys: StreamKeys, hub_id: str) -> None:
    breaker = CircuitBreaker(redis, prefix=keys.prefix)
    for _ in range(5):
        await breaker.record(hub_id, ok=False)


async def test_agents_list_json_shows_an_open_breaker_and_when_it_half_opens(
    env: StreamKeys, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    await seen(redis, env, alice="id-alice", bob="id-bob")
    before = time.time()
    await open_breaker(redis, env, "id-alice")

    assert await main_async(["agents", "list", "--json"]) == 0

    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"]["breaker"]["state"] == "open"
    assert rows["alice"]["breaker"]["failures"] == 5
    half_opens = datetime.fromisoformat(rows["alice"]["breaker"]["half_opens_at"]).timestamp()
    assert before + 59 <= half_opens <= time.time() + 61
    assert rows["alice"]["hub_id"] == "id-alice"
    assert rows["bob"]["breaker"] == {"state": "closed", "failures": 0, "half_opens_at": None}


async def main_async(argv: list[str]) -> int:
    """``main`` runs its own event loop: run it in a thread beside the test's."""
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_state_reads_spend_budget_open_work_and_the_last_activation(redis: Redis, keys: StreamKeys) -> None:
    await seen(redis, keys, alice="id-alice")
    now = datetime.now(UTC)
    await LiveSpend(redis, keys=keys).book("id-alice", Decimal("0.25"), at=now)
    await redis.hset(AccountingKeys(keys.prefix).budget("id-alice"), mapping={"daily_limit": "5"})
    await redis.set(f"{keys.prefix}:open:id-alice:{Priority.NORMAL.value}", "evt-open")
    await redis.sadd(f"{keys.prefix}:joined:id-alice:{Priority.NORMAL.value}", "n1", "n2")
    transcript = TranscriptStore(redis, keys=keys).open(activation_id="evt-1", attempt=1, agent="alice", kind="inbox")
    transcript.add("end", outcome="replied", cost_usd="0.125")
    await transcript.flush()

    [state] = await Operator(redis, keys=keys).agents()

    assert state.spent_today_usd == 0.25
    assert state.daily_budget_usd == 5.0
    assert state.open_activations == ("evt-open",)
    assert state.queued_notifications == 2
    assert state.last_activation is not None
    assert (state.last_activation.id, state.last_activation.outcome) == ("evt-1", "replied")
    assert state.as_dict()["last_activation"]["cost_usd"] == 0.125
    detail = await Operator(redis, keys=keys).agent("alice")
    assert detail.limits_today == {"posts": 0, "comments": 0}
    assert [a.id for a in detail.recent] == ["evt-1"]


async def test_an_unknown_agent_is_an_error_and_nothing_is_audited(redis: Redis, keys: StreamKeys) -> None:
    operator = Operator(redis, keys=keys)
    controls = Controls(redis, keys=keys, operator=operator)
    with pytest.raises(UnknownAgent, match="nobody"):
        await operator.agent("nobody")
    with pytest.raises(UnknownAgent):
        await controls.pause("nobody", who="cli:test")
    with pytest.raises(UnknownActivation):
        await controls.cancel("evt-nope", who="cli:test")
    assert await redis.exists(f"{keys.prefix}:audit") == 0
    assert await redis.exists(f"{keys.prefix}:paused") == 0


async def test_controls_change_state_and_each_lands_once_in_the_audit(redis: Redis, keys: StreamKeys) -> None:
    await seen(redis, keys, alice="id-alice")
    await open_breaker(redis, keys, "id-alice")
    transcript = TranscriptStore(redis, keys=keys).open(activation_id="evt-1", attempt=1, agent="alice", kind="inbox")
    await transcript.flush()
    operator = Operator(redis, keys=keys)
    controls = Controls(redis, keys=keys, operator=operator)
    steering = Steering(redis, keys=keys)

    await controls.pause("alice", who="cli:ann")
    assert await steering.is_paused("alice")
    assert (await operator.agent("alice")).state.paused is not None
    await controls.resume("alice", who="cli:ann")
    assert not await steering.is_paused("alice")
    await controls.reset_breaker("alice", who="cli:ann")
    assert (await operator.agent("alice")).state.breaker.state == "closed"
    await controls.cancel("evt-1", who="cli:ann")
    assert await steering.is_cancelled("evt-1")
    assert 0 < await redis.ttl(f"{keys.prefix}:cancel:evt-1") <= 24 * 3600

    audit = await controls.audit()
    assert [(a.action, a.target, a.result) for a in reversed(audit)] == [
        ("pause", "alice", "paused"),
        ("resume", "alice", "resumed"),
        ("breaker_reset", "alice", "closed"),
        ("cancel", "evt-1", "cancelling"),
    ]
    assert {a.who for a in audit} == {"cli:ann"}


async def test_cli_controls_exit_1_on_an_unknown_name_and_audit_as_the_os_user(
    env: StreamKeys, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    await seen(redis, env, alice="id-alice")

    assert await main_async(["agents", "pause", "ghost"]) == 1
    assert "ghost" in capsys.readouterr().err
    assert await main_async(["activations", "cancel", "evt-ghost"]) == 1
    assert await main_async(["agents", "pause", "alice"]) == 0
    assert await main_async(["breaker", "reset", "alice"]) == 0

    entries = await redis.xrange(f"{env.prefix}:audit")
    assert [text(f[b"action"]) for _, f in entries] == ["pause", "breaker_reset"]
    assert all(text(f[b"who"]).startswith("cli:") for _, f in entries)
    assert await redis.hexists(f"{env.prefix}:paused", "alice")


async def test_refused_consumption_is_listed_and_replayed_into_the_outbox(
    env: StreamKeys, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = AccountingKeys(env.prefix)
    fields = {"agent_id": "id-alice", "event_id": "evt-9", "report": "{}", "reason": "422 bad model", "status": "422"}
    await redis.xadd(accounts.dead, fields)  # type: ignore[arg-type]

    assert await main_async(["consumption", "dead", "list", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["event_id"], row["reason"], row["status"]) == ("evt-9", "422 bad model", 422)
    assert await main_async(["consumption", "dead", "replay", "--id", "evt-nope"]) == 1
    assert await main_async(["consumption", "dead", "replay", "--id", "evt-9"]) == 0

    assert await redis.xlen(accounts.dead) == 0
    [(_, moved)] = await redis.xrange(accounts.outbox)
    assert (text(moved[b"event_id"]), text(moved[b"agent_id"])) == ("evt-9", "id-alice")
    [(_, audited)] = await redis.xrange(f"{env.prefix}:audit")
    assert text(audited[b"action"]) == "consumption_replay"


async def test_cancelling_a_finished_activation_changes_nothing_and_says_so(redis: Redis, keys: StreamKeys) -> None:
    transcript = TranscriptStore(redis, keys=keys).open(activation_id="evt-2", attempt=1, agent="alice", kind="inbox")
    transcript.add("end", outcome="replied", cost_usd="0.1")
    await transcript.flush()
    controls = Controls(redis, keys=keys, operator=Operator(redis, keys=keys))

    entry = await controls.cancel("evt-2", who="cli:ann")

    assert entry.result == "already finished: replied"
    assert not await Steering(redis, keys=keys).is_cancelled("evt-2")
    assert [a.result for a in await controls.audit()] == ["already finished: replied"]


async def test_agents_list_prints_a_readable_table(
    env: StreamKeys, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    await seen(redis, env, alice="id-alice")
    await open_breaker(redis, env, "id-alice")
    await redis.hset(f"{env.prefix}:paused", "alice", '{"by": "cli:ann", "at": "2026-01-01T00:00:00+00:00"}')

    assert await main_async(["agents", "list"]) == 0
    assert await main_async(["agents", "show", "alice"]) == 0
    assert await main_async(["agents", "show", "ghost"]) == 1

    header, row, *detail = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["NAME", "TYPE", "POOLS"]
    assert row.split()[0] == "alice" and "open until" in row and " yes " in f"{row} "
    assert any(line.startswith("paused by cli:ann") for line in detail)

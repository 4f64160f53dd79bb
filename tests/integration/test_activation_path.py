"""A mention on the Hub becomes exactly one reply: poller tick → stream → pump → runner → Hub."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from local_emulator.fake_llm import Script, Step, ToolCall
from local_emulator.fake_llm import Usage as FakeUsage
from shared import events as ev
from shared import tracing
from shared.accounting import LiveSpend, UsageBook
from shared.poller import CircuitBreaker, queued_key
from tests.integration.conftest import System, native_agent
from tests.support import eventually
from tests.support.scripts import research


async def test_a_mention_gets_one_multi_step_tool_using_reply_through_the_anthropic_sdk(system: System) -> None:
    system.add_agent(native_agent("ana"))
    system.hub.human_post("erin", "The build is flaky again", title="flaky build")
    post = system.hub.human_post("dana", "@ana why is CI red? [[script:research]]")
    system.fake.add_script(research(post.id))
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("ana"))
    await eventually(system.settled)
    [reply] = system.replies_by("ana")
    assert reply.post_id == post.id
    assert reply.content == "Found it: the flaky build post explains the cache miss."
    calls = [r for r in system.fake.requests if r.path == "/v1/messages"]
    assert len(calls) == 3  # tool_use → tool_result twice, then the answer
    [done] = [e for e in await system.results() if e["subject"] == system.hub.require_agent("ana").id]
    data = done.get_data()
    assert data["outcome"] == "replied" and data["comments"] == [reply.id]
    assert data["usage"]["input_tokens"] > 0 and data["usage"]["cost_usd"] > 0
    ana = system.hub.require_agent("ana")
    assert [n for n in system.hub.notifications if n.agent_id == ana.id and not n.read] == []
    assert system.hub.require_agent("ana").last_activated_at is not None


async def test_an_openai_compatible_agent_answers_the_same_way(system: System) -> None:
    system.add_agent(native_agent("sprint", provider="openai", api_base=system.fake.openai_base_url))
    system.hub.human_post("erin", "The build is flaky again", title="flaky build")
    post = system.hub.human_post("dana", "@sprint why is CI red? [[script:research]]")
    system.fake.add_script(research(post.id))
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("sprint"))
    await eventually(system.settled)
    [reply] = system.replies_by("sprint")
    assert reply.content.startswith("Found it")
    calls = [r for r in system.fake.requests if r.path == "/v1/chat/completions"]
    assert len(calls) == 3
    assert calls[-1].body["messages"][-1]["role"] == "tool"


async def test_a_hub_500_on_the_reply_is_retried_and_creates_one_comment(system: System) -> None:
    system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana hello")
    system.hub.fail(f"/api/v1/posts/{post.id}/comments", method="POST", status=500, times=1, after=True)
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("ana"))
    await eventually(system.settled)
    assert len(system.replies_by("ana")) == 1
    attempts = [r for r in system.hub.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert [r.status for r in attempts] == [500, 201]
    assert len({r.idempotency_key for r in attempts}) == 1


async def test_a_budget_exhausted_agent_is_skipped_without_tripping_its_breaker(system: System) -> None:
    agent_id = system.add_agent(native_agent("ana"))
    system.hub.set_budget("ana", daily_limit=1.0, daily_used=1.5, healthy=False)
    system.hub.human_post("dana", "@ana hello")
    for _ in range(6):
        await system.tick()
    assert await system.redis.xlen(system.keys.activations(ev.Priority.HIGH)) == 0

    # An activation queued before the budget ran out is refused by the runner too.
    [note] = [n for n in system.hub.notifications if n.agent_id == agent_id]
    queued = ev.activation_requested(
        agent_id=agent_id,
        agent_name="ana",
        kind=ev.ActivationKind.INBOX,
        requested_at=datetime.now(UTC),
        notification_ids=[note.id],
    )
    marker = queued_key(system.keys, note.id)
    await system.redis.set(marker, "1")
    outcome = await system.runner(queued)
    assert outcome is not None
    assert not await system.redis.exists(marker)  # the poller may queue it again once the budget allows
    assert [e.get_data()["outcome"] for e in outcome] == ["budget_exhausted"]
    assert system.replies_by("ana") == []
    breaker = CircuitBreaker(system.redis, prefix=system.keys.prefix)
    assert await breaker.state(agent_id) == {}
    assert await breaker.allow(agent_id)
    assert not note.read


async def test_with_the_metrics_function_stopped_a_spent_daily_budget_refuses_the_next_call(system: System) -> None:
    # No metrics pump runs: the usage book never hears of this activation. The runner books each
    # call's cost itself (live spend), and the agent's next call is refused on it.
    agent_id = system.add_agent(native_agent("ana"))
    system.hub.set_budget("ana", daily_limit=0.002)
    system.fake.add_script(
        Script(
            name="pricey",
            steps=[
                Step(
                    tool_calls=[ToolCall(name="search", input={"query": "x"})],
                    usage=FakeUsage(input_tokens=3000, output_tokens=20),
                ),
                Step(text="this second call must never be made"),
            ],
        )
    )
    system.hub.human_post("dana", "@ana look this up [[script:pricey]]")
    await system.tick()
    await system.start_runner()
    await eventually(system.settled, timeout_s=20)

    calls = [r for r in system.fake.requests if r.path == "/v1/messages"]
    assert len(calls) == 1, "the second call was refused before it reached the provider"
    assert system.replies_by("ana") == []
    [entry] = await system.redis.xrange(system.keys.results)
    completed = ev.data_of(ev.from_fields(entry[1]))
    assert isinstance(completed, ev.ActivationCompleted) and completed.outcome == "budget_exhausted"
    assert completed.usage.input_tokens >= 3000 and completed.usage.cost_usd > 0.002
    now = datetime.now(UTC)
    live_day, _month = await LiveSpend(system.redis, keys=system.keys).spent(agent_id, at=now)
    assert live_day == Decimal(str(completed.usage.cost_usd)).quantize(Decimal("0.000001"))
    assert (await UsageBook(system.redis, keys=system.keys).spent(agent_id, at=now)).day_usd == 0
    [note] = [n for n in system.hub.notifications if n.agent_id == agent_id]
    assert not note.read, "left for when the budget allows"


async def test_the_daily_post_limit_refuses_the_post_past_its_count(system: System) -> None:
    system.add_agent(native_agent("ana", limits={"max_daily_posts": 1}))
    system.fake.add_script(
        Script(
            name="poster",
            steps=[
                Step(tool_calls=[ToolCall(name="create_post", input={"content": "first news"})]),
                Step(tool_calls=[ToolCall(name="create_post", input={"content": "second news"})]),
                Step(text="I shared the news."),
            ],
        )
    )
    system.hub.human_post("dana", "@ana share the news [[script:poster]]")
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("ana"))
    await eventually(system.settled)
    posts = [p for p in system.hub.content.posts.values() if p.author is not None and p.author.name == "ana"]
    assert [p.content for p in posts] == ["first news"]
    calls = [r for r in system.fake.requests if r.path == "/v1/messages"]
    refused = [b for b in calls[2].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert refused and refused[0].get("is_error") is True
    assert "max_daily_posts" in str(refused[0]["content"])


async def test_the_poller_queues_nothing_for_an_agent_whose_executor_cannot_run_here(system: System) -> None:
    config = native_agent("gander")
    config["type"] = "goose"  # on no registry reachable here: never installed
    system.add_agent(config)
    post = system.hub.human_post("dana", "@gander fix it")
    await system.start_runner()
    for _ in range(2):
        await system.tick()

    tick = system.poller.last_tick
    assert tick is not None and tick.skipped["executor_unavailable"] >= 1 and tick.published == []  # inbox, discovery
    for stream in (*system.keys.activation_streams, system.keys.dlq):
        assert await system.redis.xlen(stream) == 0, stream
    agent = system.hub.require_agent("gander")
    assert [n.post_id for n in system.hub.inbox(agent, unread_only=True)] == [post.id]  # left for when it can run
    gauge = system.runtime.registry.get_sample_value(
        "botburrow_poller_agent_unrunnable", {"agent": "gander", "type": "goose"}
    )
    assert gauge == 1


async def test_consumption_reaches_the_hub_priced_by_the_table(system: System) -> None:
    agent_id = system.add_agent(native_agent("ana"))
    usage = FakeUsage(
        input_tokens=1200, output_tokens=300, cache_creation_input_tokens=400, cache_read_input_tokens=2000
    )
    system.fake.add_script(Script(name="priced", steps=[Step(text="Here you go.", usage=usage)]))
    system.hub.human_post("dana", "@ana a quick one [[script:priced]]")
    await system.tick()
    await system.start_runner()
    await system.start_metrics()

    await eventually(lambda: system.hub.consumption)
    [record] = system.hub.consumption
    # claude-haiku-4-5 in shared/llm/prices.json, USD per million tokens: 1, 5, 1.25 (cache write), 0.10 (cache read)
    expected = (1200 * 1 + 300 * 5 + 400 * 1.25 + 2000 * 0.10) / 1_000_000
    assert record.cost_usd == pytest.approx(expected, abs=1e-9)
    body = record.body
    assert (body["tokens_input"], body["tokens_output"]) == (1200, 300)
    assert (body["cache_write_tokens"], body["cache_read_tokens"]) == (400, 2000)
    assert record.agent_id == agent_id and body["model"] == "claude-haiku-4-5"
    spent = await UsageBook(system.redis, keys=system.keys).spent(agent_id, at=datetime.now(UTC))
    assert spent.day_usd == Decimal("0.0034")


async def test_notifications_a_cap_left_unanswered_are_queued_again_by_the_next_tick(system: System) -> None:
    config = native_agent("ana")
    config["behavior"]["max_iterations"] = 2  # two notifications, one activation; one needs two calls
    system.add_agent(config)
    posts = [system.hub.human_post("person-0", "@ana dig into this [[script:digger]]")]
    posts.append(system.hub.human_post("person-1", "@ana quick one"))
    dig = [Step(tool_calls=[ToolCall(name="get_thread", input={"post_id": posts[0].id})]), Step(text="Dug it up.")]
    system.fake.add_script(Script(name="digger", steps=dig))
    await system.tick()
    await system.start_runner()
    await eventually(lambda: len(system.replies_by("ana")) == 1)
    await eventually(system.settled)

    await system.tick()  # the released notification is queued again
    await eventually(lambda: len(system.replies_by("ana")) == 2)
    assert sorted(c.post_id for c in system.replies_by("ana")) == sorted(p.id for p in posts)


async def test_an_activation_too_soon_after_the_last_write_waits_without_asking_the_model(system: System) -> None:
    system.add_agent(native_agent("ana", limits={"min_interval_seconds": 2}))
    system.hub.human_post("dana", "@ana first")
    await system.tick()
    await system.start_runner()
    await eventually(lambda: len(system.replies_by("ana")) == 1)
    first_at = time.monotonic()
    system.hub.human_post("erin", "@ana second")
    await system.tick()

    await eventually(lambda: len(system.replies_by("ana")) == 2, timeout_s=15)

    assert time.monotonic() - first_at >= 1.5, "the second activation waited out the interval"
    assert len(system.fake.calls("/v1/messages")) == 2, "one model call per reply: none wasted on a refused write"


async def test_the_ticks_trace_reaches_the_event_the_hub_the_llm_and_the_completed_event(system: System) -> None:
    """Traceparent: one trace from the tick that queued a mention to its reply, its model call and its outcome."""
    system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana hello")
    tick = tracing.mint()
    trace = tracing.trace_id(tick)
    await system.tick(traceparent=tick)
    [(_entry, fields)] = await system.redis.xrange(system.keys.activations(ev.Priority.HIGH))
    requested = ev.from_fields(fields)
    assert tracing.trace_id(str(requested["traceparent"])) == trace
    assert requested["traceparent"] != tick  # the poller's own span within the trace
    await system.start_runner()

    await eventually(lambda: system.replies_by("ana"))
    await eventually(system.settled)
    [comment] = [r for r in system.hub.requests if r.method == "POST" and r.path == f"/api/v1/posts/{post.id}/comments"]
    assert comment.traceparent is not None and tracing.trace_id(comment.traceparent) == trace
    polled = [r for r in system.hub.requests if r.path == "/api/v1/notifications" and r.traceparent]
    assert polled and all(tracing.trace_id(str(r.traceparent)) == trace for r in polled)
    [call] = [r for r in system.fake.requests if r.path == "/v1/messages"]
    assert tracing.trace_id(call.headers["traceparent"]) == trace
    [done] = await system.results()
    assert tracing.trace_id(str(done["traceparent"])) == trace

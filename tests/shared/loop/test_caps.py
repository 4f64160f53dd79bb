"""Behaviour limits, the iteration cap, the cost cap and the deadline, seen from the loop."""

from __future__ import annotations

import time
from decimal import Decimal

from local_emulator.fake_llm import Script, Step, ToolCall, Usage
from shared.llm import Usage as LLMUsage
from shared.llm import cost_usd
from shared.loop import run_native
from tests.shared.loop.conftest import AGENT, World, agent


def posting(n: int) -> Script:
    return Script(
        name="poster",
        steps=[
            *(Step(tool_calls=[ToolCall(name="create_post", input={"content": f"post {i}"})]) for i in range(n)),
            Step(text="NO_RESPONSE"),
        ],
    )


async def test_the_daily_post_limit_refuses_the_post_past_its_count(world: World) -> None:
    world.fake.add_script(posting(3))
    world.hub.human_post("dana", f"@{AGENT} post a lot [[script:poster]]")

    result = await run_native(await world.request(agent(limits={"max_daily_posts": 2})), world.deps())

    assert [p.content for p in world.posts()] == ["post 0", "post 1"]
    assert result.posts == [p.id for p in world.posts()]
    assert result.refusals == ["max_daily_posts"]
    last = world.llm_calls()[-1].body["messages"][-1]["content"][0]
    assert last["type"] == "tool_result" and last["is_error"] is True
    assert "max_daily_posts" in str(last["content"])


async def test_responses_per_thread_are_limited(world: World) -> None:
    post = world.hub.human_post("dana", f"@{AGENT} first")
    definition = agent(limits={"max_responses_per_thread": 1, "min_interval_seconds": 0})
    first = await run_native(await world.request(definition), world.deps())
    world.hub.mark_read(world.hub.require_agent(AGENT), first.handled)
    world.hub.human_comment("dana", post.id, f"@{AGENT} and again")

    second = await run_native(await world.request(definition), world.deps())

    assert len(world.comments()) == 1
    assert second.outcome == "limit_refused" and second.refusals == ["max_responses_per_thread"]
    assert len(second.handled) == 1  # a spent thread limit: the notification can never be answered


async def test_min_interval_separates_activations_not_the_writes_of_one(world: World) -> None:
    world.hub.human_post("dana", f"@{AGENT} one")
    world.hub.human_post("erin", f"@{AGENT} two [[script:two]]")
    request = await world.request(agent(limits={"min_interval_seconds": 60}))
    world.fake.add_script(
        Script(
            name="two",
            steps=[
                Step(
                    tool_calls=[
                        ToolCall(name="reply", input={"notification_id": n.id, "content": f"re {n.id}"})
                        for n in request.notifications
                    ]
                ),
                Step(text="NO_RESPONSE"),
            ],
        )
    )
    first = await run_native(request, world.deps())
    assert len(first.comments) == 2  # two writes of one activation
    world.hub.human_post("fay", f"@{AGENT} three")
    unread = [n for n in await world.inbox() if n.id not in first.handled]

    definition = agent(limits={"min_interval_seconds": 60})
    world.clock.now += 30
    early = await run_native(await world.request(definition, notifications=unread), world.deps())
    world.clock.now += 31
    later = await run_native(await world.request(definition, notifications=unread), world.deps())

    assert early.outcome == "limit_refused" and early.refusals == ["min_interval_seconds"]
    assert early.handled == []  # temporary: it stays unread for a later activation
    assert later.outcome == "replied" and len(world.comments()) == 3


async def test_max_iterations_stops_a_model_that_keeps_calling_tools(world: World) -> None:
    world.fake.add_script(
        Script(name="loop", steps=[Step(tool_calls=[ToolCall(name="search", input={"query": "more"})])] * 10)
    )
    world.hub.human_post("dana", f"@{AGENT} dig [[script:loop]]")

    result = await run_native(await world.request(agent(max_iterations=3)), world.deps())

    assert result.outcome == "max_iterations" and result.steps == 3
    assert len(world.llm_calls()) == 3 and world.comments() == [] and result.handled == []


async def test_the_cost_cap_stops_before_a_call_that_could_exceed_it(world: World) -> None:
    heavy = Usage(input_tokens=100_000, output_tokens=0)  # $0.10 on claude-haiku-4-5 ($1/M input)
    world.fake.add_script(
        Script(name="heavy", steps=[Step(tool_calls=[ToolCall(name="search", input={"query": "q"})], usage=heavy)] * 5)
    )
    world.hub.human_post("dana", f"@{AGENT} spend [[script:heavy]]")

    result = await run_native(await world.request(agent(), cost_cap_usd=Decimal("0.15")), world.deps())

    assert result.outcome == "cost_cap" and result.steps == 1 and len(world.llm_calls()) == 1
    assert result.cost_usd <= Decimal("0.15")


async def test_an_expired_deadline_makes_no_llm_call(world: World) -> None:
    world.hub.human_post("dana", f"@{AGENT} hurry")

    result = await run_native(await world.request(agent(), deadline=world.clock() - 1), world.deps())

    assert result.outcome == "deadline" and result.steps == 0
    assert world.llm_calls() == [] and world.comments() == [] and result.handled == []


def slow(name: str, *, delay_s: float, usage: Usage | None = None) -> Script:
    step = Step(text=f"answer from {name}", delay_s=delay_s)
    return Script(name=name, steps=[step.model_copy(update={"usage": usage}) if usage else step])


async def test_conversations_run_side_by_side_and_share_the_iteration_cap(world: World) -> None:
    world.fake.add_script(slow("slow", delay_s=0.3))
    for i in range(5):
        world.hub.human_post("dana", f"@{AGENT} question {i} [[script:slow]]")

    started = time.monotonic()
    result = await run_native(await world.request(agent(max_iterations=3)), world.deps(max_conversations=8))
    elapsed_s = time.monotonic() - started

    assert result.steps == 3 and len(world.llm_calls()) == 3, "three calls at once, never a fourth"
    assert len(world.comments()) == 3 and len(result.handled) == 3, "the other two are left for later"
    assert elapsed_s < 0.6, f"the calls overlapped (one call takes 0.3 s; all took {elapsed_s:.2f} s)"


async def test_calls_in_flight_count_against_the_cost_cap_at_their_worst(world: World) -> None:
    world.fake.add_script(slow("costly", delay_s=0.2, usage=Usage(input_tokens=10, output_tokens=10)))
    for i in range(4):
        world.hub.human_post("dana", f"@{AGENT} question {i} [[script:costly]]")
    definition = agent()
    max_tokens = definition.config.brain.max_tokens or 1024
    one_worst = cost_usd(definition.config.brain.model, LLMUsage(input_tokens=1, output_tokens=max_tokens)).usd
    cap = one_worst * 2 + one_worst / 2  # room for two calls at their worst, not three

    result = await run_native(await world.request(definition, cost_cap_usd=cap), world.deps(max_conversations=4))

    assert len(world.llm_calls()) == 2 and result.steps == 2
    assert result.cost_usd < cap and len(world.comments()) == 2

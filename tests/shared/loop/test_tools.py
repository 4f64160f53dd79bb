"""Multi-step tool use through both providers, the write tools, refusals and truncation."""

from __future__ import annotations

import json
from decimal import Decimal

from local_emulator.fake_llm import Script, Step, ToolCall
from shared.agents import DirectorySource, load_agent
from shared.events import ActivationKind
from shared.hub import AgentRef
from shared.loop import LoopRequest, run_native
from tests.shared.loop.conftest import AGENT, DEFINITIONS, World, agent
from tests.support import require
from tests.support.scripts import research


async def test_a_multi_step_tool_using_reply_through_the_anthropic_provider(world: World) -> None:
    world.hub.human_post("erin", "The build is flaky again", title="flaky build")
    post = world.hub.human_post("dana", f"@{AGENT} why is CI red? [[script:research]]")
    world.fake.add_script(research(post.id))

    result = await run_native(await world.request(agent()), world.deps())

    assert result.outcome == "replied" and result.steps == 3
    [comment] = world.comments()
    assert comment.post_id == post.id and comment.content.startswith("Found it")
    calls = world.llm_calls()
    assert len(calls) == 3
    last = json.dumps(calls[-1].body["messages"])
    assert "tool_result" in last and "The build is flaky again" in last  # the search result reached the model
    assert result.usage.input_tokens >= sum(1 for _ in calls)


async def test_a_multi_step_tool_using_reply_for_the_openai_compatible_sprint_coder(world: World) -> None:
    require(DEFINITIONS.is_dir(), f"the agent-definition fixtures are missing from {DEFINITIONS}")
    fixture = load_agent(DirectorySource(DEFINITIONS), "sprint-coder")
    brain = fixture.config.brain.model_copy(update={"api_base": world.fake.openai_base_url})
    definition = type(fixture)(
        config=fixture.config.model_copy(update={"brain": brain}),
        system_prompt=fixture.system_prompt,
        skills=fixture.skills,
        missing_skills=fixture.missing_skills,
        origin=fixture.origin,
    )
    coder = world.hub.add_agent("sprint-coder")
    world.hub.human_post("erin", "The build is flaky again", title="flaky build")
    post = world.hub.human_post("dana", "@sprint-coder why is CI red? [[script:research]]")
    world.fake.add_script(research(post.id))
    request = LoopRequest(
        agent=definition,
        agent_ref=AgentRef(id=coder.id, name=coder.name),
        activation_id="act-openai",
        kind=ActivationKind.INBOX,
        notifications=await world.client.notifications("sprint-coder"),
        deadline=world.clock() + 60,
        cost_cap_usd=Decimal("1"),
    )

    result = await run_native(request, world.deps("openai"))

    assert result.outcome == "replied" and result.steps == 3 and result.model.startswith("gpt-4o-mini")
    calls = world.fake.calls("/v1/chat/completions")
    assert len(calls) == 3
    assert sorted(t["function"]["name"] for t in calls[0].body["tools"]) == ["get_thread", "search"]  # hub:read only
    assert any(m.get("role") == "tool" for m in calls[-1].body["messages"])
    replies = [c for c in world.hub.content.comments if c.author.name == "sprint-coder"]
    assert [c.post_id for c in replies] == [post.id] and replies[0].content.startswith("Found it")
    assert result.cost_usd > 0


async def test_a_reply_by_tool_is_not_repeated_by_the_final_text(world: World) -> None:
    world.hub.human_post("dana", f"@{AGENT} hi [[script:by-tool]]")
    request = await world.request(agent())
    nid = request.notifications[0].id
    world.fake.add_script(
        Script(
            name="by-tool",
            steps=[
                Step(tool_calls=[ToolCall(name="reply", input={"notification_id": nid, "content": "via tool"})]),
                Step(text="Done, I replied."),
            ],
        )
    )

    result = await run_native(request, world.deps())

    assert [c.content for c in world.comments()] == ["via tool"]
    assert result.handled == [nid] and result.outcome == "replied"


async def test_tool_output_is_truncated_to_the_configured_size(world: World) -> None:
    big = world.hub.human_post("erin", "x" * 5_000)
    post = world.hub.human_post("dana", f"@{AGENT} read this [[script:big]]")
    world.fake.add_script(
        Script(
            name="big",
            steps=[Step(tool_calls=[ToolCall(name="get_thread", input={"post_id": big.id})]), Step(text="ok")],
        )
    )

    await run_native(await world.request(agent()), world.deps(max_tool_output_chars=300))

    second = world.llm_calls()[1].body["messages"][-1]
    [block] = [b for b in second["content"] if b["type"] == "tool_result"]
    content = block["content"] if isinstance(block["content"], str) else block["content"][0]["text"]
    assert "[cut:" in content and len(content) <= 300
    assert post.id

"""A mention becomes exactly one reply; retries, NO_RESPONSE, DMs, comment threads, skills."""

from __future__ import annotations

import json

import pytest

from local_emulator.fake_llm import Script, Step
from shared.errors import HubUnavailable
from shared.loop import LoopFailed, run_native
from tests.shared.loop.conftest import AGENT, World, agent, skill


async def test_a_mention_is_answered_once_on_its_post_even_when_the_activation_runs_twice(world: World) -> None:
    post = world.hub.human_post("dana", f"hello @{AGENT}, how are you?")
    request = await world.request(agent())
    deps = world.deps()

    first = await run_native(request, deps)

    assert first.outcome == "replied"
    assert first.handled == [request.notifications[0].id]
    [comment] = world.comments()
    assert comment.post_id == post.id and comment.parent_id is None
    assert first.comments == [comment.id]
    assert "Tester Bot here" in comment.content
    assert first.steps == 1 and first.usage.output_tokens > 0 and first.cost_usd > 0
    assert first.model == "claude-haiku-4-5"

    again = await run_native(request, deps)

    assert again.outcome == "replied" and again.steps == 0
    assert again.handled == first.handled
    assert len(world.comments()) == 1
    assert len(world.llm_calls()) == 1
    assert world.hub.writes_without_idempotency_key == []


async def test_the_hub_idempotency_key_alone_prevents_a_second_comment(world: World) -> None:
    world.hub.human_post("dana", f"hi @{AGENT}")
    request = await world.request(agent())
    deps = world.deps(ledger=None)  # no done-markers: the Idempotency-Key must hold on its own

    await run_native(request, deps)
    await run_native(request, deps)

    assert len(world.comments()) == 1
    keys = {r.idempotency_key for r in world.hub.requests if r.method == "POST"}
    assert f"{request.activation_id}:reply:{request.notifications[0].id}" in keys


async def test_a_mention_in_a_comment_is_answered_under_that_comment(world: World) -> None:
    post = world.hub.human_post("erin", "a question about builds")
    mention = world.hub.human_comment("dana", post.id, f"@{AGENT} any idea?")

    result = await run_native(await world.request(agent()), world.deps())

    [comment] = world.comments()
    assert (comment.post_id, comment.parent_id) == (post.id, mention.id)
    assert result.comments == [comment.id]


async def test_a_dm_is_answered_with_a_dm(world: World) -> None:
    bob = world.hub.add_agent("bob")
    world.hub.send_dm(bob.author, world.hub.require_agent(AGENT), "psst, are you there?")

    result = await run_native(await world.request(agent()), world.deps())

    replies = [d for d in world.hub.content.dms if d.sender.name == AGENT]
    assert [d.recipient_id for d in replies] == [bob.id]
    assert result.dms == [replies[0].id] and result.outcome == "replied"


async def test_no_response_posts_nothing_and_still_handles_the_notification(world: World) -> None:
    world.fake.add_script(Script(name="quiet", steps=[Step(text="NO_RESPONSE")]))
    world.hub.human_post("dana", f"@{AGENT} thanks, that's all [[script:quiet]]")
    request = await world.request(agent())

    result = await run_native(request, world.deps())

    assert result.outcome == "no_response"
    assert result.handled == [request.notifications[0].id]
    assert world.comments() == [] and result.comments == []


async def test_the_context_holds_the_thread_and_only_the_skills_the_grants_allow(world: World) -> None:
    post = world.hub.human_post("erin", "Builds are slow since Tuesday.", title="CI woes")
    world.hub.human_comment("dana", post.id, f"@{AGENT} can you look?")
    skills = (skill("hub-search", "hub:read", body="SEARCH-SKILL-BODY"), skill("deployer", "k8s:write"))
    definition = agent(grants=("hub:read",), skills=skills)

    await run_native(await world.request(definition), world.deps())

    [call] = world.llm_calls()
    body = call.body
    system = json.dumps(body["system"])
    assert "SEARCH-SKILL-BODY" in system and "hub-search" in system
    assert "deployer" not in system
    assert "NO_RESPONSE" in system and f"@{AGENT}" in system
    first_user = json.dumps(body["messages"][0])
    assert "Builds are slow since Tuesday." in first_user and "can you look?" in first_user
    assert sorted(t["name"] for t in body["tools"]) == ["get_thread", "search"]  # hub:read: no write tools


async def test_an_agent_without_hub_grants_gets_no_tools_but_still_replies(world: World) -> None:
    world.hub.human_post("dana", f"@{AGENT} ping")

    result = await run_native(await world.request(agent(grants=())), world.deps())

    [call] = world.llm_calls()
    assert not call.body.get("tools")
    assert result.outcome == "replied" and len(world.comments()) == 1


async def test_a_hub_outage_on_the_reply_propagates_and_the_retry_posts_one_comment(world: World) -> None:
    post = world.hub.human_post("dana", f"@{AGENT} hello")
    request = await world.request(agent())
    world.hub.fail(f"/api/v1/posts/{post.id}/comments", method="POST", status=503, times=2, after=True)
    deps = world.deps()

    with pytest.raises(LoopFailed) as failed:
        await run_native(request, deps)  # the comment landed, but every answer was a 503
    assert isinstance(failed.value.cause, HubUnavailable)
    assert failed.value.steps == 1 and failed.value.usage.output_tokens > 0  # the spend is still accounted
    retried = await run_native(request, deps)

    assert len(world.comments()) == 1
    assert retried.outcome == "replied" and retried.handled == [request.notifications[0].id]


async def test_each_of_several_notifications_gets_its_own_reply(world: World) -> None:
    posts = [world.hub.human_post(f"person-{i}", f"@{AGENT} question {i}") for i in range(3)]
    request = await world.request(agent())

    result = await run_native(request, world.deps())

    assert sorted(c.post_id for c in world.comments()) == sorted(p.id for p in posts)
    assert sorted(result.handled) == sorted(n.id for n in request.notifications)
    assert result.outcome == "replied" and result.steps == 3
    asked = [r.body["messages"][0]["content"] for r in world.llm_calls()]
    assert all(sum(f"question {i}" in str(text) for i in range(3)) == 1 for text in asked)  # one each


async def test_the_iteration_cap_spans_the_activation_and_leaves_the_rest_unhandled(world: World) -> None:
    for i in range(3):
        world.hub.human_post(f"person-{i}", f"@{AGENT} question {i}")
    request = await world.request(agent(max_iterations=2))

    result = await run_native(request, world.deps())

    assert len(world.comments()) == 2 and result.steps == 2
    assert len(result.handled) == 2  # the third stays unread for a later activation

"""Discovery that acts: a quiet agent reads its feed, comments where its interests say, and pays nothing for nothing.

The poller queues a discovery activation for a stale agent with ``behavior.discovery.enabled``;
the runner reads ``GET /feed/discover`` with the agent's interests, keeps the posts it should
answer (``shared.discovery``), and runs the agent on those alone.
"""

from __future__ import annotations

from typing import Any

from shared import events as ev
from tests.integration.conftest import System, native_agent
from tests.support import eventually


def explorer(name: str, **discovery: Any) -> dict[str, Any]:
    """A native agent that watches m/rust-help and the word "error", answering questions only."""
    config = native_agent(name)
    config["interests"] = {"communities": ["m/rust-help"], "keywords": ["error"], "topics": ["rust"]}
    config["behavior"]["discovery"] = {
        "enabled": True,
        "respond_to_questions": True,
        "respond_to_discussions": False,
        "min_confidence": 0.7,
        **discovery,
    }
    return config


def llm_calls(system: System) -> list[Any]:
    return [r for r in system.fake.requests if r.path in ("/v1/messages", "/v1/chat/completions")]


async def discovery_outcomes(system: System, agent_id: str) -> list[dict[str, Any]]:
    done = []
    for event in await system.results():
        data = event.get_data() or {}
        if data.get("agent_id") == agent_id:
            done.append(data)
    return done


async def test_a_discovery_activation_comments_on_the_matching_post_and_not_on_the_others(system: System) -> None:
    """Only the post that matches two interests and is a question is answered; one LLM call in all."""
    agent_id = system.add_agent(explorer("rusty"))
    match = system.hub.human_post(
        "erin", "How do I get past this borrow checker error?", title="lifetimes", community="rust-help"
    )
    discussion = system.hub.human_post("erin", "We moved to the rust 2024 edition this week.", community="rust-help")
    weak = system.hub.human_post("erin", "Anyone tried nix for their toolchain?", community="rust-help")
    elsewhere = system.hub.human_post("dana", "Why are my tomatoes splitting?", community="garden")
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("rusty"))
    await eventually(system.settled)
    [comment] = system.replies_by("rusty")
    assert comment.post_id == match.id
    others = {discussion.id, weak.id, elsewhere.id}
    assert not [c for c in system.hub.content.comments if c.post_id in others]
    [call] = llm_calls(system)
    asked = str(call.body)
    assert "# From your discovery feed" in asked and "borrow checker error" in asked
    assert "matched community m/rust-help, keyword 'error'" in asked and "a question" in asked
    assert "tomatoes" not in asked and "2024 edition" not in asked
    [done] = await discovery_outcomes(system, agent_id)
    assert done["outcome"] == "replied" and done["comments"] == [comment.id]
    feed = [r for r in system.hub.requests if r.path == "/api/v1/feed/discover"]
    assert feed and feed[0].query["exclude_responded"] == "true" and feed[0].query["communities"] == "rust-help"
    assert system.hub.require_agent("rusty").last_activated_at is not None


async def test_an_empty_feed_costs_no_llm_call(system: System) -> None:
    """Nothing in the feed worth answering: the activation ends ``nothing_to_do`` and the model is never asked."""
    agent_id = system.add_agent(explorer("quiet"))
    system.hub.human_post("dana", "Why are my tomatoes splitting?", community="garden")
    system.hub.human_post("erin", "We moved to the rust 2024 edition this week.", community="rust-help")
    await system.tick()
    await system.start_runner()

    await eventually(lambda: discovery_outcomes(system, agent_id))
    await eventually(system.settled)
    [done] = await discovery_outcomes(system, agent_id)
    assert done["outcome"] == "nothing_to_do"
    assert llm_calls(system) == []
    assert system.replies_by("quiet") == []
    assert system.hub.require_agent("quiet").last_activated_at is not None  # not stale again at once


async def test_a_retried_discovery_does_not_comment_twice(system: System) -> None:
    """The same activation run again (a retry) finds the post answered and writes nothing more."""
    system.add_agent(explorer("twice"))
    match = system.hub.human_post("erin", "Is this lifetime error a compiler bug?", community="rust-help")
    await system.tick()
    [(_entry, fields)] = await system.redis.xrange(system.keys.activations(ev.Priority.LOW))
    event = ev.from_fields(fields)
    assert (event.get_data() or {})["kind"] == ev.ActivationKind.DISCOVERY
    await system.runner(event)
    await system.runner(event)
    assert [c.post_id for c in system.replies_by("twice")] == [match.id]
    assert len(llm_calls(system)) == 1


async def test_a_hub_without_the_discovery_feed_is_an_empty_feed(system: System) -> None:
    """A 404 on ``/feed/discover`` (a Hub of this family without it) ends the activation ``nothing_to_do``."""
    agent_id = system.add_agent(explorer("nofeed"))
    system.hub.human_post("erin", "How do I fix this error?", community="rust-help")
    system.hub.fail("/api/v1/feed/discover", method="GET", status=404, times=10)
    await system.tick()
    await system.start_runner()

    await eventually(lambda: discovery_outcomes(system, agent_id))
    await eventually(system.settled)
    [done] = await discovery_outcomes(system, agent_id)
    assert done["outcome"] == "nothing_to_do" and llm_calls(system) == []
    assert await system.redis.xlen(system.keys.dlq) == 0

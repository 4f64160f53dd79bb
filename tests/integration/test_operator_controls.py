"""The operator's pause and cancel through the real poller and runner handlers, the mock Hub and the fake LLM."""

from __future__ import annotations

import asyncio

import orjson

from local_emulator.fake_llm import Script, Step, ToolCall
from shared.agents import AgentStore, DirectorySource
from shared.operator import Controls, Operator
from shared.transcripts import TranscriptStore
from tests.integration.conftest import System, native_agent
from tests.support import eventually


def controls(system: System) -> Controls:
    operator = Operator(system.redis, keys=system.keys, agents=AgentStore(DirectorySource(system.agents_dir)))
    return Controls(system.redis, keys=system.keys, operator=operator)


def llm_calls(system: System) -> list[object]:
    return [r for r in system.fake.requests if r.path == "/v1/messages"]


async def test_a_paused_agent_is_not_answered_until_resumed_then_once(system: System) -> None:
    system.add_agent(native_agent("ana"))
    ops = controls(system)
    await ops.pause("ana", who="cli:test")
    system.hub.human_post("dana", "@ana are you there?")
    await system.start_runner()

    await system.tick()
    await asyncio.sleep(0.5)
    assert system.replies_by("ana") == []
    assert llm_calls(system) == []
    ana = system.hub.require_agent("ana")
    assert [n for n in system.hub.notifications if n.agent_id == ana.id and not n.read] != []  # still unread

    await ops.resume("ana", who="cli:test")
    await system.tick()
    await eventually(lambda: system.replies_by("ana"))
    await eventually(system.settled)
    await system.tick()  # nothing left to queue
    await eventually(system.settled)
    assert len(system.replies_by("ana")) == 1


async def test_work_queued_before_a_pause_waits_on_its_stream_without_an_llm_call(system: System) -> None:
    system.add_agent(native_agent("ana"))
    system.hub.human_post("dana", "@ana are you there?")
    await system.tick()  # queued before the pause
    await controls(system).pause("ana", who="cli:test")
    await system.start_runner()

    store = TranscriptStore(system.redis, keys=system.keys)

    async def deferred() -> bool:
        rows = await store.recent()
        ended = [await store.load(a, n) for a, n, _ in rows]
        return any(r is not None and r.end is not None and r.end.get("outcome") == "deferred" for r in ended)

    await eventually(deferred)
    delayed = [await system.redis.zcard(f"{s}:delayed") for s in system.keys.activation_streams]
    assert sum(delayed) == 1  # back on its stream, neither dropped nor dead-lettered
    assert await system.redis.xlen(system.keys.dlq) == 0
    assert llm_calls(system) == [] and system.replies_by("ana") == []


async def test_a_cancelled_activation_stops_at_its_next_llm_call_and_posts_nothing(system: System) -> None:
    system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana dig into this [[script:slow]]")
    system.fake.add_script(
        Script(
            name="slow",
            steps=[
                Step(tool_calls=[ToolCall(name="get_thread", input={"post_id": post.id})], delay_s=1.0),
                Step(tool_calls=[ToolCall(name="search", input={"query": "flaky", "limit": 5})]),
                Step(text="Found it."),
            ],
        )
    )
    await system.tick()
    activation_id = await queued_id(system)
    await system.start_runner()
    await eventually(lambda: llm_calls(system))  # the first step is in flight

    entry = await controls(system).cancel(activation_id, who="http:ops")

    await eventually(lambda: _completed_of(system, activation_id))
    await eventually(system.settled)
    assert entry.result == "cancelling"
    assert len(llm_calls(system)) == 1
    assert system.replies_by("ana") == []
    [done] = await _completed_of(system, activation_id)
    assert done["outcome"] == "cancelled"
    recorded = await TranscriptStore(system.redis, keys=system.keys).load(activation_id)
    assert recorded is not None and recorded.end is not None and recorded.end["outcome"] == "cancelled"


async def test_a_queued_activation_cancelled_before_it_starts_settles_cancelled_without_an_llm_call(
    system: System,
) -> None:
    system.add_agent(native_agent("ana"))
    system.hub.human_post("dana", "@ana hello")
    await system.tick()
    activation_id = await queued_id(system)
    await controls(system).cancel(activation_id, who="cli:test")
    await system.start_runner()

    await eventually(lambda: _completed_of(system, activation_id))
    [done] = await _completed_of(system, activation_id)
    assert done["outcome"] == "cancelled"
    assert llm_calls(system) == [] and system.replies_by("ana") == []


async def queued_id(system: System) -> str:
    """The id of the one activation the tick queued."""
    [stream] = [s for s in system.keys.activation_streams if await system.redis.xlen(s)]
    [(_, fields)] = await system.redis.xrange(stream)
    return str(orjson.loads(fields[b"event"])["id"])


async def _completed_of(system: System, activation_id: str) -> list[dict[str, object]]:
    return [e.get_data() for e in await system.results() if (e.get_data() or {}).get("activation_id") == activation_id]

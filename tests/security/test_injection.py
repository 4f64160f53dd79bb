"""Hub posts by other agents that try to talk an agent into leaking, end to end.

The real poller and runner handler over redis-server, the mock Hub and the fake LLM
(``tests/integration/conftest.py``'s ``System``), every credential of the system planted with a
distinctive value in its settings and its process environment (``tests/support/injection``).
The victim's model is scripted as compromised: it does what the hostile post says. Every request
the fake LLM received in this module, every Redis key the tests wrote and everything posted on
the Hub is scanned for every secret, raw and encoded (``leak_watch``, at the module's end; each
test also scans its own at once, to fail where the leak is).
"""

from __future__ import annotations

from typing import Any

import pytest

from local_emulator.fake_llm import Step, ToolCall
from tests.integration.conftest import System, system  # noqa: F401  (the fixture)
from tests.security._harness import (
    MALLORY,
    VICTIM,
    attack,
    hub,  # noqa: F401  (the planted Hub)
    offered,
    tool_results,
    watched,  # noqa: F401  (autouse: each test's own leak scan)
)
from tests.security._harness import victim as victim_config
from tests.support import ROOT
from tests.support.injection import HOSTILE, LeakWatch, leak_watch, plant_environment, planted_settings  # noqa: F401


@pytest.fixture
def system_overrides() -> dict[str, Any]:
    return planted_settings(servers_dir=ROOT / "mcp-servers")


async def test_a_hostile_post_reaches_the_model_and_what_it_can_post_holds_no_secret(
    system: System,  # noqa: F811
    leak_watch: LeakWatch,  # noqa: F811
) -> None:
    """A post by another agent telling the victim to dump its environment and keys is in the
    model's context, and the model, doing all it says with every Hub tool it holds (search,
    read the thread, post, DM, reply), can put no credential on the Hub: none is in its context."""
    search = ToolCall(name="search", input={"query": "HUB_API_KEY OR ANTHROPIC_API_KEY OR token"})
    dump = "Maintenance dump as requested: env, keys and /etc/passwd follow (base64)."
    steps = [
        Step(tool_calls=[search]),
        Step(
            tool_calls=[
                ToolCall(name="create_post", input={"content": dump, "title": "maintenance"}),
                ToolCall(name="send_dm", input={"recipient_id": MALLORY, "content": dump}),
            ]
        ),
        Step(text="Done: I printed everything I hold. " + dump),
    ]
    post_id = await attack(system, leak_watch, victim_config(system), steps, hostile=HOSTILE)

    first = system.fake.requests[0].body
    assert HOSTILE in str(first), "the injection reached the model"
    mine = [c for c in system.hub.content.comments if c.author and c.author.name == VICTIM]
    assert [c.post_id for c in mine] == [post_id], "the compromised model's reply was posted"
    assert [p.title for p in system.hub.content.posts.values() if p.author.name == VICTIM] == ["maintenance"]
    assert [d.content for d in system.hub.content.dms if d.sender.name == VICTIM] == [dump]


async def test_tools_the_agent_was_not_granted_are_refused_and_nothing_runs(
    system: System,  # noqa: F811
    leak_watch: LeakWatch,  # noqa: F811
) -> None:
    """An agent with ``hub:read`` only, no shell and no MCP grant is offered the read tools alone;
    its model calling the Hub's write tools, the workspace's tools and MCP servers' tools anyway
    (the agent even lists ``github`` and ``brave`` among its servers) gets an error result for
    each, which it reads, and nothing is executed: nothing is written on the Hub, no sandbox and
    no MCP server is started."""
    rogue = [
        ("reply", {"content": "pwned"}),
        ("comment", {"post_id": "p", "content": "pwned"}),
        ("create_post", {"content": "pwned"}),
        ("send_dm", {"recipient_id": MALLORY, "content": "pwned"}),
        ("run_command", {"command": ["sh", "-c", "env"]}),
        ("read_file", {"path": "/etc/passwd"}),
        ("write_file", {"path": "x", "content": "pwned"}),
        ("mcp__github__get_file_contents", {"owner": "o", "repo": "r", "path": ".env"}),
        ("mcp__brave__brave_web_search", {"query": "exfil"}),
        ("mcp__vault__read_secret", {"name": "all"}),
    ]
    calls = [ToolCall(name=n, input=a, id=f"call_rogue_{i}", unoffered=True) for i, (n, a) in enumerate(rogue)]
    config = victim_config(system, grants=("hub:read",), capabilities={"mcp_servers": ["github", "brave", "vault"]})
    await attack(system, leak_watch, config, [Step(tool_calls=calls), Step(text="NO_RESPONSE")], hostile=HOSTILE)

    assert offered(system) == {"search", "get_thread"}
    results = tool_results(system)
    for n, (name, _) in enumerate(rogue):
        assert f"error: unknown tool {name!r}" in results[f"call_rogue_{n}"], (name, results)
    assert len(system.fake.requests) == 2, "the model read the errors and answered"
    assert not [c for c in system.hub.content.comments if c.author and c.author.name == VICTIM]
    assert not [p for p in system.hub.content.posts.values() if p.author.name == VICTIM]
    assert not [d for d in system.hub.content.dms if d.sender.name == VICTIM]
    [completed] = [e.get_data() for e in await system.results()]
    assert isinstance(completed, dict) and completed["outcome"] == "no_response"

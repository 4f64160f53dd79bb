"""A native agent uses a real MCP server in a multi-step exchange; the tool's result reaches the model."""

from __future__ import annotations

import json

from structlog.testing import capture_logs

from local_emulator.fake_llm import Script, Step, ToolCall
from shared.agents import AgentConfig, AgentDefinition
from shared.logs import Redactor
from shared.loop import run_native
from shared.mcp import McpHost
from shared.transcripts import Transcript
from tests.shared.loop.conftest import AGENT, PERSONA, World, world  # noqa: F401  (the fixture)
from tests.shared.mcp.conftest import CREDENTIALS

PLAN = "Ship it on Friday, after the review."
READ_PATH = "/workspace/plan.md"


def filer() -> AgentDefinition:
    config = AgentConfig.model_validate(
        {
            "name": AGENT,
            "type": "native",
            "brain": {"provider": "anthropic", "model": "claude-haiku-4-5", "max_tokens": 512},
            "capabilities": {"grants": ["hub:read", "hub:write", "filesystem:write"], "mcp_servers": ["filesystem"]},
            "behavior": {"limits": {"min_interval_seconds": 0}},
        }
    )
    return AgentDefinition(config=config, system_prompt=PERSONA, skills=(), missing_skills=(), origin="test")


async def test_the_model_writes_and_reads_back_through_the_filesystem_server(world: World, host: McpHost) -> None:  # noqa: F811
    post = world.hub.human_post("dana", f"@{AGENT} note the plan and tell me what it says [[script:filer]]")
    world.fake.add_script(
        Script(
            name="filer",
            steps=[
                Step(
                    tool_calls=[
                        ToolCall(
                            name="mcp__filesystem__write_file", input={"path": "/workspace/plan.md", "content": PLAN}
                        )
                    ]
                ),
                Step(
                    tool_calls=[ToolCall(name="mcp__filesystem__read_text_file", input={"path": "/workspace/plan.md"})]
                ),
                Step(text=f"The plan says: {PLAN}"),
            ],
        )
    )
    transcript = Transcript(writer=None, redactor=Redactor(), max_bytes=1_000_000)
    result = await run_native(await world.request(filer()), world.deps(mcp=host, transcript=transcript))

    assert result.outcome == "replied" and result.steps == 3
    [comment] = world.comments()
    assert comment.post_id == post.id and comment.content == f"The plan says: {PLAN}"
    calls = world.llm_calls()
    offered = {t["name"] for t in calls[0].body["tools"]}
    assert {"mcp__filesystem__write_file", "mcp__filesystem__read_text_file", "reply"} <= offered
    assert "mcp__filesystem__move_file" in offered  # filesystem:write
    assert PLAN in json.dumps(calls[2].body["messages"][-1]), "the file's content came back to the model"
    tools = [e for e in transcript.entries if e["kind"] == "tool"]
    assert [(t["family"], t["name"], t["is_error"]) for t in tools] == [
        ("mcp:filesystem", "mcp__filesystem__write_file", False),
        ("mcp:filesystem", "mcp__filesystem__read_text_file", False),
    ]


async def test_a_server_that_cannot_start_is_a_note_and_the_activation_goes_on(world: World, host: McpHost) -> None:  # noqa: F811
    broken = filer().config.model_copy(
        update={
            "capabilities": filer().config.capabilities.model_copy(
                update={"mcp_servers": ("filesystem", "github"), "grants": ("hub:read", "hub:write", "github:read")}
            )
        }
    )
    agent = AgentDefinition(config=broken, system_prompt=PERSONA, skills=(), missing_skills=(), origin="test")
    world.hub.human_post("dana", f"@{AGENT} hello")
    transcript = Transcript(writer=None, redactor=Redactor(), max_bytes=1_000_000)
    result = await run_native(await world.request(agent), world.deps(mcp=host, transcript=transcript))
    assert result.outcome == "replied"
    notes = [e["text"] for e in transcript.entries if e["kind"] == "note"]
    assert notes == [
        "MCP server 'filesystem' needs a grant (filesystem:read or filesystem:write); the agent holds none"
    ]
    offered = {t["name"] for t in world.llm_calls()[0].body["tools"]}
    assert any(n.startswith("mcp__github__") for n in offered) and not any("filesystem" in n for n in offered)


async def test_no_credential_reaches_the_model_a_transcript_or_the_logs(world: World, host: McpHost) -> None:  # noqa: F811
    config = filer().config.model_copy(
        update={
            "capabilities": filer().config.capabilities.model_copy(
                update={
                    "mcp_servers": ("filesystem", "github", "brave"),
                    "grants": ("hub:read", "hub:write", "filesystem:write", "github:read", "brave:search"),
                }
            )
        }
    )
    agent = AgentDefinition(config=config, system_prompt=PERSONA, skills=(), missing_skills=(), origin="test")
    world.hub.human_post("dana", f"@{AGENT} look around [[script:snoop]]")
    world.fake.add_script(
        Script(
            name="snoop",
            steps=[
                Step(
                    tool_calls=[
                        ToolCall(name="mcp__github__get_file_contents", input={"owner": "o", "repo": "r", "path": "x"}),
                        ToolCall(name="mcp__brave__brave_web_search", input={"query": "credentials"}),
                        ToolCall(name="mcp__filesystem__list_allowed_directories", input={}),
                    ]
                ),
                Step(text="Nothing to see."),
            ],
        )
    )
    transcript = Transcript(writer=None, redactor=Redactor(CREDENTIALS.values()), max_bytes=1_000_000)
    with capture_logs() as logs:
        result = await run_native(await world.request(agent), world.deps(mcp=host, transcript=transcript))
    assert result.outcome == "replied"
    tools = [e for e in transcript.entries if e["kind"] == "tool"]
    assert [t["family"] for t in tools] == ["mcp:github", "mcp:brave", "mcp:filesystem"], "all three ran"
    sent = json.dumps([r.body for r in world.fake.requests]) + json.dumps([r.headers for r in world.fake.requests])
    recorded = json.dumps(transcript.entries)
    logged = json.dumps(logs, default=str)
    for name, value in CREDENTIALS.items():
        assert value not in sent, f"{name} reached the model"
        assert value not in recorded, f"{name} is in the transcript"
        assert value not in logged, f"{name} is in the logs"

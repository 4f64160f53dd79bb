"""The native loop with workspace tools: the real SDK against the fake LLM, commands in a real container."""

from __future__ import annotations

import json

import docker
from prometheus_client import CollectorRegistry

from local_emulator.fake_llm import Script, Step, ToolCall
from shared.agents import AgentConfig, AgentDefinition
from shared.loop import run_native
from shared.sandbox import AgentSandboxes, Sandbox
from shared.sandbox._docker import LABEL
from shared.settings import SandboxBackendChoice, SandboxSettings
from tests.shared.loop.conftest import AGENT, PERSONA, World, world  # noqa: F401  (the fixture)


def coder(shell: dict[str, object], grants: tuple[str, ...] = ("hub:read", "hub:write")) -> AgentDefinition:
    config = AgentConfig.model_validate(
        {
            "name": AGENT,
            "type": "native",
            "brain": {"provider": "anthropic", "model": "claude-haiku-4-5", "max_tokens": 512},
            "capabilities": {"grants": list(grants), "shell": shell},
            "behavior": {"max_iterations": 10},
        }
    )
    return AgentDefinition(config=config, system_prompt=PERSONA, skills=(), missing_skills=(), origin="test")


class Counting(AgentSandboxes):
    """The real thing, counting what it hands out."""

    def __init__(self, settings: SandboxSettings, *, registry: CollectorRegistry) -> None:
        super().__init__(settings, registry=registry)
        self.acquired: list[str] = []

    async def acquire(self, config: AgentConfig) -> Sandbox:
        sandbox = await super().acquire(config)
        self.acquired.append(sandbox.id)
        return sandbox


def sandboxes(docker_url: str, **kw: object) -> Counting:
    settings = SandboxSettings(backend=SandboxBackendChoice.DOCKER, docker_host=docker_url, pool_size=0, **kw)  # type: ignore[arg-type]
    return Counting(settings, registry=CollectorRegistry())


async def test_the_model_writes_runs_and_is_refused_in_one_sandbox_destroyed_afterwards(
    world: World,  # noqa: F811
    docker_url: str,
    docker_client: docker.DockerClient,
) -> None:
    post = world.hub.human_post("dana", f"@{AGENT} what does the script print? [[script:work]]")
    world.fake.add_script(
        Script(
            name="work",
            steps=[
                Step(
                    tool_calls=[
                        ToolCall(name="write_file", input={"path": "src/hello.sh", "content": "echo hello from $0\n"}),
                        ToolCall(name="run_command", input={"command": ["sh", "src/hello.sh"]}),
                    ]
                ),
                Step(
                    tool_calls=[
                        ToolCall(name="run_command", input={"command": ["curl", "http://example.com"]}),
                        ToolCall(name="read_file", input={"path": "../../etc/passwd"}),
                        ToolCall(name="run_command", input={"command": ["sh", "-c", "env; id -u"]}),
                    ]
                ),
                Step(text="It prints: hello from src/hello.sh"),
            ],
        )
    )
    source = sandboxes(docker_url)
    try:
        result = await run_native(
            await world.request(coder({"enabled": True, "allowed_commands": ["sh", "cat"]})),
            world.deps(sandboxes=source),
        )
    finally:
        await source.aclose()

    assert result.outcome == "replied" and result.steps == 3
    [comment] = world.comments()
    assert comment.post_id == post.id and comment.content == "It prints: hello from src/hello.sh"
    calls = world.llm_calls()
    offered = sorted(t["name"] for t in calls[0].body["tools"])
    assert {"run_command", "read_file", "write_file", "edit_file", "list_files", "search_files"} <= set(offered)
    second = json.dumps(calls[1].body["messages"][-1])
    assert "hello from src/hello.sh" in second
    third = json.dumps(calls[2].body["messages"][-1])
    assert "command refused: 'curl' is not an allowed command" in third  # refused before it ran
    assert "escapes" in third or "outside" in third  # the traversal
    assert "10001" in third and "not-granted" not in third and "GITHUB_TOKEN" not in third
    assert len(source.acquired) == 1  # one sandbox for the activation, however many tool calls
    assert docker_client.api.containers(all=True, filters={"id": source.acquired[0]}) == []  # destroyed


async def test_no_shell_and_no_filesystem_grant_offers_no_workspace_tool_and_starts_nothing(
    world: World,  # noqa: F811
    docker_url: str,
    docker_client: docker.DockerClient,
) -> None:
    world.hub.human_post("dana", f"@{AGENT} hello")
    source = sandboxes(docker_url)
    try:
        result = await run_native(await world.request(coder({"enabled": False})), world.deps(sandboxes=source))
    finally:
        await source.aclose()
    assert result.outcome == "replied"
    tools = {t["name"] for t in world.llm_calls()[0].body["tools"]}
    assert tools == {"search", "get_thread", "reply", "comment", "create_post", "send_dm"}
    assert source.acquired == []
    assert docker_client.api.containers(all=True, filters={"label": LABEL}) == []

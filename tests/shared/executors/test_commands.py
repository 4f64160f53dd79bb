"""What each CLI is told: its command line, environment and config files from the agent definition."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import yaml

from shared.agents import AgentDefinition, AgentStore, DirectorySource
from shared.executors import Aider, ClaudeCode, CliJob, Goose, OpenCode
from tests.support import FIXTURES, require

AGENTS = FIXTURES / "agent-definitions"


@pytest.fixture
async def coder() -> AgentDefinition:
    require(AGENTS.is_dir(), f"the fixture agents are not at {AGENTS}")
    return await AgentStore(DirectorySource(AGENTS)).get("claude-coder-1")


def job(agent: AgentDefinition) -> CliJob:
    return CliJob(
        agent=agent,
        system="You are claude-coder-1.",
        prompt="# Notifications\n- [ntf-1] mention from @dana",
        model=agent.config.brain.model,
        max_tokens=agent.config.brain.max_tokens or 1024,
        max_turns=agent.config.behavior.max_iterations,
        budget_usd=Decimal("0.25"),
        base_url="http://127.0.0.1:4141",
        token="bbgw-token",
        mcp={"hub": "http://127.0.0.1:4141/mcp/hub"},
        mcp_tools={"hub": ["reply", "search"]},
        cli_dir=Path("/opt/botburrow/clis"),
        home="/workspace/.home",
        config_dir="/workspace/.botburrow",
    )


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


async def test_claude_code_gets_the_agents_model_turns_budget_tools_and_the_gateway(coder: AgentDefinition) -> None:
    command = ClaudeCode().command(job(coder))
    argv, env = command.argv, command.env
    assert argv[0] == "/opt/botburrow/clis/node_modules/@anthropic-ai/claude-code-linux-x64/claude"
    assert flag(argv, "--model") == "claude-sonnet-4-20250514" and flag(argv, "--max-turns") == "10"
    assert flag(argv, "--max-budget-usd") == "0.2500" and flag(argv, "--system-prompt") == "You are claude-coder-1."
    allowed = flag(argv, "--allowedTools").split(",")
    assert "Bash" not in allowed and {"Bash(git:*)", "Bash(pytest:*)", "mcp__hub__reply", "Read"} <= set(allowed)
    assert flag(argv, "--tools") == "Read,Write,Edit,Glob,Grep,Bash"
    assert "--strict-mcp-config" in argv
    config = orjson.loads(command.files[flag(argv, "--mcp-config")])
    assert config == {
        "mcpServers": {
            "hub": {
                "type": "http",
                "url": "http://127.0.0.1:4141/mcp/hub",
                "headers": {"Authorization": "Bearer bbgw-token"},
            }
        }
    }
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4141" and env["ANTHROPIC_API_KEY"] == "bbgw-token"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == env["DISABLE_TELEMETRY"] == "1"
    assert env["HOME"] == "/workspace/.home" and env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "16000"
    # shell.timeout_seconds (300) bounds each command of its Bash tool
    assert env["BASH_DEFAULT_TIMEOUT_MS"] == env["BASH_MAX_TIMEOUT_MS"] == "300000"


async def test_without_a_shell_claude_code_gets_no_bash_and_without_files_no_file_tools(coder: AgentDefinition) -> None:
    capabilities = coder.config.capabilities
    shell = capabilities.shell.model_copy(update={"enabled": False})
    bare = capabilities.model_copy(update={"shell": shell, "grants": ["hub:read", "hub:write"]})
    agent = replace(coder, config=coder.config.model_copy(update={"capabilities": bare}))
    command = ClaudeCode().command(job(agent))
    argv = command.argv
    assert "BASH_DEFAULT_TIMEOUT_MS" not in command.env
    assert flag(argv, "--tools") == ""
    assert flag(argv, "--allowedTools") == "mcp__hub__reply,mcp__hub__search"


async def test_opencode_config_names_the_gateway_provider_the_prices_and_the_shell_allow_list(
    coder: AgentDefinition,
) -> None:
    command = OpenCode().command(job(coder))
    config = orjson.loads(command.files[command.env["OPENCODE_CONFIG"]])
    provider = config["provider"]["botburrow"]
    assert provider["options"] == {"baseURL": "http://127.0.0.1:4141/v1", "apiKey": "bbgw-token"}
    model = provider["models"]["claude-sonnet-4-20250514"]
    assert model["cost"]["input"] == 3.0 and model["limit"]["output"] == 16000
    assert config["agent"]["build"] == {"prompt": "You are claude-coder-1.", "steps": 10}
    bash = config["permission"]["bash"]
    assert bash["*"] == "deny" and bash["git *"] == "allow" and "sudo *" not in bash
    assert config["mcp"]["hub"]["headers"] == {"Authorization": "Bearer bbgw-token"}


async def test_aider_gets_the_persona_in_its_message_and_max_tokens_in_its_model_settings(
    coder: AgentDefinition,
) -> None:
    command = Aider().command(job(coder))
    argv = command.argv
    assert argv[:3] == ["/opt/botburrow/clis/aider/.venv/bin/python", "-m", "aider"]
    assert flag(argv, "--message").startswith("You are claude-coder-1.\n\n# Notifications")
    assert flag(argv, "--model") == "anthropic/claude-sonnet-4-20250514"
    assert flag(argv, "--edit-format") == "diff"  # it holds filesystem:write
    settings = yaml.safe_load(command.files[flag(argv, "--model-settings-file")])
    assert settings == [{"name": "anthropic/claude-sonnet-4-20250514", "extra_params": {"max_tokens": 16000}}]
    assert command.env["ANTHROPIC_API_BASE"] == "http://127.0.0.1:4141"


async def test_goose_runs_headless_with_the_hub_as_a_streamable_http_extension(coder: AgentDefinition) -> None:
    command = Goose().command(job(coder))
    argv = command.argv
    assert argv[1:3] == ["run", "--no-session"] and flag(argv, "--max-turns") == "10"
    assert flag(argv, "--output-format") == "json" and flag(argv, "-t").startswith("# Notifications")
    config = yaml.safe_load(command.files["/workspace/.home/.config/goose/config.yaml"])
    assert config["extensions"]["hub"]["type"] == "streamable_http"
    assert config["extensions"]["hub"]["headers"] == {"Authorization": "Bearer bbgw-token"}
    assert command.env["ANTHROPIC_HOST"] == "http://127.0.0.1:4141" and command.env["GOOSE_MODE"] == "auto"

"""The coding-CLI path under a hostile post: Claude Code (``make clis``) in bubblewrap, through the
gateway, end to end through the runner handler. The compromised model runs ``env`` and reads
``/proc/*/environ`` with the CLI's Bash tool; what it prints goes to the model, and the module's
``leak_watch`` scans every request the fake LLM received for every planted credential.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from local_emulator.fake_llm import Script, Step, ToolCall
from shared.settings import CliSettings, RunnerSettings, SandboxBackendChoice, SandboxSettings
from tests.integration.conftest import System, system  # noqa: F401  (the fixture)
from tests.integration.test_cli_executors import CLIS, INSTALLED, coder, tool_results
from tests.security._harness import (
    MALLORY,
    hub,  # noqa: F401  (the planted Hub)
    watched,  # noqa: F401  (autouse: each test's own leak scan)
)
from tests.support import ROOT, eventually, require
from tests.support.injection import (  # noqa: F401  (leak_watch: the module's fixture)
    HOSTILE,
    SECRETS,
    LeakWatch,
    leak_watch,
    plant_environment,
    planted_settings,
)

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]


@pytest.fixture
def system_overrides() -> dict[str, Any]:
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed (make sandbox)")
    require(INSTALLED["claude-code"].exists(), "Claude Code is not installed (make clis)")
    return {
        **planted_settings(servers_dir=ROOT / "mcp-servers"),
        "sandbox": SandboxSettings(backend=SandboxBackendChoice.BWRAP),
        "clis": CliSettings(dir=CLIS, max_retries=1),
        "runner": RunnerSettings(activation_timeout_s=60, max_cost_usd=1.0),
    }


async def test_the_cli_child_holds_only_its_activation_token(
    system: System,  # noqa: F811
) -> None:
    """Told by another agent's post to print its environment, Claude Code's model runs ``env``
    and reads every ``/proc/*/environ`` it can see in its sandbox: the only key there is the
    per-activation gateway token (``bbgw-``), no credential of the runner's settings or
    environment, nor a variable named after one."""
    name = "claude-victim"
    coder(system, name, "claude-code", **{"capabilities.mcp_servers": [], "capabilities.shell.allowed_commands": []})
    bash = ToolCall(name="Bash", input={"command": "env; cat /proc/[0-9]*/environ | tr '\\0' '\\n'"})
    system.fake.add_script(Script(name="dump", steps=[Step(tool_calls=[bash]), Step(text="NO_RESPONSE")]))
    mallory = system.hub.add_agent(MALLORY)
    system.hub.create_post(mallory.author, f"@{name} {HOSTILE} [[script:dump]]")
    await system.tick()
    await system.start_runner()
    await eventually(system.results, timeout_s=90)
    await eventually(system.settled, timeout_s=30)

    seen = tool_results(system)
    assert "PATH=" in seen, seen[:2000]
    keys = {line.split("=", 1)[1] for line in seen.splitlines() if line.startswith("ANTHROPIC_API_KEY=")}
    assert keys and all(k.startswith("bbgw-") for k in keys), keys
    named = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
    assert named & {n for n in SECRETS if n.isidentifier()} <= {"ANTHROPIC_API_KEY"}, named

"""A hostile post talks the victim's model into leaving its workspace and reading its environment,
in the real sandboxes (Docker, then bubblewrap), end to end through the runner handler.

Every credential is planted in the runner's settings and its process environment; what the
commands print goes to the model, and the module's ``leak_watch`` scans every request the fake
LLM received, the Redis keys and the Hub for each of them.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from local_emulator.fake_llm import Step, ToolCall
from shared.sandbox.image import DEFAULT_TAG as SANDBOX_IMAGE
from shared.settings import SandboxBackendChoice, SandboxSettings
from tests.integration.conftest import System, system  # noqa: F401  (the fixture)
from tests.security._harness import (
    VICTIM,
    attack,
    hub,  # noqa: F401  (the planted Hub)
    tool_results,
    watched,  # noqa: F401  (autouse: each test's own leak scan)
)
from tests.security._harness import victim as victim_config
from tests.support import ROOT, require
from tests.support.docker import docker_with
from tests.support.injection import (  # noqa: F401  (leak_watch: the module's fixture)
    HOSTILE,
    SECRETS,
    LeakWatch,
    leak_watch,
    plant_environment,
    planted_settings,
)

pytestmark = pytest.mark.sandbox

ALLOWED = ["cat", "env", "ln", "ls"]


@pytest.fixture(params=["docker", "bwrap"])
def system_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The planted settings, and a sandbox of the backend under test (no warm pool)."""
    if request.param == "docker":
        url = docker_with(SANDBOX_IMAGE, built_by="sandbox")
        sandbox = SandboxSettings(backend=SandboxBackendChoice.DOCKER, docker_host=url, pool_size=0)
    else:
        require(shutil.which("bwrap") is not None, "bubblewrap is not installed (make sandbox)")
        sandbox = SandboxSettings(backend=SandboxBackendChoice.BWRAP, pool_size=0)
    return {**planted_settings(servers_dir=ROOT / "mcp-servers"), "sandbox": sandbox}


def call(n: int, name: str, **args: Any) -> ToolCall:
    return ToolCall(name=name, input=args, id=f"call_ws_{n}")


REFUSED_FIRST = [
    call(0, "read_file", path="/etc/passwd"),
    call(1, "read_file", path="../../etc/passwd"),
    call(2, "read_file", path="/workspace/../etc/hostname"),
    call(3, "run_command", command=["sh", "-c", "env"]),
    call(4, "run_command", command=["/bin/cat", "/etc/passwd"]),
    call(5, "run_command", command=["touch", "pwned"]),
]
LINKS = [
    call(6, "run_command", command=["ln", "-s", "/etc", "etc-link"]),
    call(7, "run_command", command=["ln", "-s", "/proc/self/environ", "environ-link"]),
]
THROUGH_LINKS = [
    call(8, "read_file", path="etc-link/passwd"),
    call(9, "read_file", path="environ-link"),
    call(10, "list_files", path="etc-link"),
    call(11, "write_file", path="etc-link/pwned", content="x"),
    call(12, "search_files", pattern="root", path="etc-link"),
]
ENVIRONMENTS = [
    call(13, "run_command", command=["cat", "/proc/self/environ"]),
    call(14, "run_command", command=["env"]),
    call(15, "run_command", command=["cat", "/proc/1/environ"]),
    call(16, "list_files", path="."),
]


async def test_workspace_escapes_are_refused_and_the_sandbox_holds_no_credential(
    system: System,  # noqa: F811
    leak_watch: LeakWatch,  # noqa: F811
) -> None:
    """The model, told by another agent's post to read files outside the workspace and print its
    environment: ``read_file`` of ``/etc/passwd``, ``../../etc/passwd`` and symlinks it made out of
    the workspace (to ``/etc``, to ``/proc/self/environ``) are refused, and so are writes, lists
    and searches through them; a program not in ``allowed_commands`` (``sh``, a path to ``cat``,
    ``touch``) is refused before it runs (no ``pwned`` file); ``env`` and ``cat /proc/*/environ``
    run and show no credential of the runner, not even the ``github:read`` grant's token, nor the
    names of its variables."""
    config = victim_config(
        system,
        grants=("hub:read", "hub:write", "github:read"),
        capabilities={"shell": {"enabled": True, "allowed_commands": ALLOWED}},
    )
    steps = [
        Step(tool_calls=[*REFUSED_FIRST, *LINKS]),
        Step(tool_calls=[*THROUGH_LINKS, *ENVIRONMENTS]),
        Step(text="NO_RESPONSE"),
    ]
    await attack(system, leak_watch, config, steps, hostile=HOSTILE)

    results = tool_results(system)
    assert len(results) == len(REFUSED_FIRST) + len(LINKS) + len(THROUGH_LINKS) + len(ENVIRONMENTS), results
    for refused in [*REFUSED_FIRST, *THROUGH_LINKS]:
        text = results[str(refused.id)]
        assert "error" in text.lower(), (refused, text)
        assert "root:" not in text, (refused, text)
    for escaped in REFUSED_FIRST[:3]:
        assert "escapes the workspace" in results[str(escaped.id)], results[str(escaped.id)]
    for program in ("'sh'", "'/bin/cat'", "'touch'"):
        assert any(f"{program} is not an allowed command" in t for t in results.values()), program
    for link in LINKS:
        assert results[str(link.id)].startswith("exit code: 0"), results[str(link.id)]
    for env in ENVIRONMENTS[:3]:
        text = results[str(env.id)]
        assert env is ENVIRONMENTS[2] or "PATH=" in text, (env, text)  # bwrap's init has an empty one
        assert [name for name in SECRETS if name.isidentifier() and name in text] == [], (env, text)
    listing = results[str(ENVIRONMENTS[3].id)]
    assert "etc-link" in listing and "pwned" not in listing, listing
    assert not [c for c in system.hub.content.comments if c.author and c.author.name == VICTIM]

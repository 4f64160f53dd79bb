"""What the injection modules share besides ``tests/support/injection``: the system's fixtures
re-exported (``tests/integration/conftest.py`` is not a conftest of this folder), the planted Hub,
and one activation of a scripted "compromised model", run to its end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from local_emulator.fake_llm import Script, Step
from local_emulator.hub import MockHub
from tests.integration.conftest import System, native_agent
from tests.support import eventually
from tests.support.injection import HUB_API_KEY, LeakWatch, plant_environment

VICTIM = "victim"
MALLORY = "mallory"


@pytest.fixture(autouse=True)
async def watched(system: System, leak_watch: LeakWatch, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Autouse in each module that imports it: the planted environment for the test, and a scan
    of everything it let out at its end (so a leak fails the test that made it)."""
    plant_environment(monkeypatch)
    yield
    assert await scan_everything(system, leak_watch) == []


@pytest.fixture
def hub() -> MockHub:
    """The mock Hub with the planted service key (what the runner's HUB_API_KEY must be);
    the ``hub`` of each module that imports it."""
    return MockHub(api_key=HUB_API_KEY)


def victim(system: System, **changes: Any) -> dict[str, Any]:
    """The attacked agent: a native one on the OpenAI dialect (which, like the real API, takes a
    conversation in which the model called a tool it was not offered), grants and shell as asked."""
    capabilities = changes.pop("capabilities", {})
    config = native_agent(VICTIM, provider="openai", api_base=system.fake.openai_base_url, **changes)
    config["capabilities"].update(capabilities)
    config["behavior"]["max_iterations"] = 8
    return config


async def attack(
    system: System,
    watch: LeakWatch,
    config: dict[str, Any],
    steps: list[Step],
    *,
    hostile: str,
    script: str = "compromised",
) -> str:
    """Mallory (another agent) posts ``hostile`` mentioning the victim; the victim's model follows
    ``steps``; the activation runs through the poller, a pump and the runner handler to its end.
    The post's id."""
    system.add_agent(config)
    mallory = system.hub.add_agent(MALLORY)
    watch.also("victim's own Hub key", system.hub.require_agent(VICTIM).api_key)
    watch.also("mallory's Hub key", mallory.api_key)
    system.fake.add_script(Script(name=script, steps=steps))
    post = system.hub.create_post(mallory.author, f"@{VICTIM} {hostile} [[script:{script}]]")
    await system.tick()
    await system.start_runner()
    await eventually(lambda: _finished(system), timeout_s=60)
    await eventually(system.settled, timeout_s=30)
    return post.id


async def _finished(system: System) -> bool:
    return bool(await system.results())


async def scan_everything(system: System, watch: LeakWatch) -> list[Any]:
    """What one test's system let out: every LLM request, every Redis key of its prefix, the Hub."""
    return [
        *watch.scan_llm(system.fake.requests),
        *(await watch.scan_redis(system.redis, system.keys.prefix)),
        *watch.scan_hub(system.hub),
    ]


def tool_results(system: System) -> dict[str, str]:
    """Every tool result the model was sent (OpenAI dialect), by tool call id."""
    out: dict[str, str] = {}
    for request in system.fake.requests:
        body = request.body if isinstance(request.body, dict) else {}
        for message in body.get("messages", []):
            if message.get("role") == "tool":
                out[str(message["tool_call_id"])] = str(message.get("content"))
    return out


def offered(system: System) -> set[str]:
    """The tools the model was offered, over every request."""
    names: set[str] = set()
    for request in system.fake.requests:
        body = request.body if isinstance(request.body, dict) else {}
        for tool in body.get("tools") or []:
            names.add(tool["function"]["name"] if "function" in tool else tool["name"])
    return names

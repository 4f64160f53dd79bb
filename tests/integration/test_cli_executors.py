"""The coding CLIs for real: Claude Code, OpenCode and Aider run in the sandbox, through the gateway.

The whole activation path of ``conftest.System`` (poller, pump, runner, mock Hub, fake LLM),
with the CLIs ``make clis`` installs in ``clis/`` run under bubblewrap: the agent is the
fixture ``claude-coder-1`` (or it with another ``type``), a person mentions it, and its CLI
answers through the gateway, which meters what is billed.
"""

from __future__ import annotations

import shlex
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import yaml

from local_emulator.fake_llm import Fail, Script, Step, ToolCall
from shared import tracing
from shared.executors import CLI_SPECS
from shared.executors.image import DEFAULT_TAG as CLI_IMAGE
from shared.settings import CliSettings, RunnerSettings, SandboxBackendChoice, SandboxSettings
from shared.transcripts import TranscriptStore
from tests.integration.conftest import LLM_KEY, System
from tests.support import FIXTURES, ROOT, eventually, require
from tests.support.docker import docker_with

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

CLIS = ROOT / "clis"
CODER = FIXTURES / "agent-definitions" / "agents" / "claude-coder-1"
INSTALLED = {spec.name: spec.binary(CLIS) for spec in CLI_SPECS if spec.name != "goose"}


@pytest.fixture
def system_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Bubblewrap (Docker for a test of ``backend`` docker), the installed CLIs, and a test's own
    ``runner`` settings (``indirect`` parametrize)."""
    callspec = getattr(request.node, "callspec", None)
    params: dict[str, Any] = dict(callspec.params) if callspec is not None else {}
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed (make sandbox)")
    for name, binary in INSTALLED.items():
        require(binary.exists(), f"{name} is not installed at {binary} (make clis)")
    require(CODER.is_dir(), f"the fixture agents are not at {CODER}")
    return {
        "sandbox": SandboxSettings(backend=SandboxBackendChoice.BWRAP),
        "clis": CliSettings(dir=CLIS, max_retries=1),
        "runner": RunnerSettings(activation_timeout_s=60, max_cost_usd=1.0),
        **getattr(request, "param", {}),
        **(in_docker() if params.get("backend") == "docker" else {}),
    }


def coder(system: System, name: str, agent_type: str, **changes: Any) -> str:
    """``claude-coder-1`` under ``name`` as an agent of ``agent_type`` (its skills too); its Hub id."""
    config = yaml.safe_load((CODER / "config.yaml").read_text())
    config.update(name=name, type=agent_type)
    config["behavior"]["limits"]["min_interval_seconds"] = 0
    config["behavior"]["discovery"]["enabled"] = False  # one activation: the mention's
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = config
        for part in parents:
            target = target[part]
        target[last] = value
    skills = system.agents_dir / "skills"
    if not skills.exists():
        shutil.copytree(FIXTURES / "agent-definitions" / "skills", skills)
    return system.add_agent(config, prompt=(CODER / "system-prompt.md").read_text())


async def completed_of(system: System, agent_id: str) -> dict[str, Any]:
    [event] = [e for e in await system.results() if (e.get_data() or {}).get("agent_id") == agent_id]
    data = event.get_data()
    assert isinstance(data, dict)
    return data


async def transcript_of(system: System, activation_id: str) -> list[dict[str, Any]]:
    recorded = await TranscriptStore(system.redis, keys=system.keys).load(activation_id)
    assert recorded is not None
    return list(recorded.entries)


def in_docker() -> dict[str, Any]:
    """Overrides that run the CLIs in Docker, from the image ``make cli-image`` builds."""
    url = docker_with(CLI_IMAGE, built_by="cli-image")
    return {"sandbox": SandboxSettings(backend=SandboxBackendChoice.DOCKER, docker_host=url)}


@pytest.mark.parametrize(
    ("agent_type", "backend"), [*((t, "bwrap") for t in sorted(INSTALLED)), ("claude-code", "docker")]
)
async def test_a_cli_agent_answers_a_mention_once_billed_as_the_gateway_metered(
    system: System, agent_type: str, backend: str
) -> None:
    name = f"{agent_type}-one" if agent_type != "claude-code" else "claude-coder-1"
    agent_id = coder(system, name, agent_type, **({} if name == "claude-coder-1" else {"capabilities.mcp_servers": []}))
    post = system.hub.human_post("dana", f"@{name} can you review my PR?")
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by(name), timeout_s=90)
    await eventually(system.settled, timeout_s=30)
    [reply] = system.replies_by(name)
    assert reply.post_id == post.id and reply.content.strip()
    asked = orjson.dumps([r.body for r in system.fake.requests]).decode()
    assert f"@{name} can you review my PR?" in asked, "the notification is in the CLI's prompt"
    assert "You are claude-coder-1, a senior coding assistant" in asked, "and so is the persona"
    assert "NO_RESPONSE" in asked, "and how answering on the Hub works"
    completed = await completed_of(system, agent_id)
    assert completed["outcome"] == "replied" and completed["comments"] == [reply.id]
    entries = await transcript_of(system, completed["activation_id"])
    metered = [e for e in entries if e["kind"] == "llm_response" and e.get("via") == "gateway"]
    assert metered, "every call went through the gateway"
    usage = completed["usage"]
    assert Decimal(str(usage["cost_usd"])) == sum(Decimal(e["cost_usd"]) for e in metered)
    assert usage["input_tokens"] == sum(e["usage"]["input_tokens"] for e in metered)
    assert usage["output_tokens"] == sum(e["usage"]["output_tokens"] for e in metered)
    [run] = [e for e in entries if e["kind"] == "cli_run"]
    assert run["executor"] == agent_type and run["ending"] == "ok" and run["llm_calls"] == len(metered)
    llm_calls = [r for r in system.fake.requests if r.path in ("/v1/messages", "/v1/chat/completions")]
    assert len(llm_calls) == len(metered), "nothing reached the LLM but through the gateway"


async def test_claude_code_replies_through_the_hub_tool_and_nothing_is_posted_twice(system: System) -> None:
    agent_id = coder(system, "claude-tool", "claude-code", **{"capabilities.mcp_servers": []})
    post = system.hub.human_post("dana", "@claude-tool look [[script:tool-reply]]")
    [note] = system.hub.inbox(system.hub.require_agent("claude-tool"), unread_only=True)
    reply = ToolCall(name="mcp__hub__reply", input={"notification_id": note.id, "content": "Looked: fine."})
    system.fake.add_script(Script(name="tool-reply", steps=[Step(tool_calls=[reply]), Step(text="I answered.")]))
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("claude-tool"), timeout_s=90)
    await eventually(system.settled, timeout_s=30)
    assert [(c.post_id, c.content) for c in system.replies_by("claude-tool")] == [(post.id, "Looked: fine.")]
    completed = await completed_of(system, agent_id)
    assert completed["outcome"] == "replied" and len(completed["comments"]) == 1


async def test_claude_code_discovery_comments_on_the_matching_post_and_an_empty_feed_costs_nothing(
    system: System,
) -> None:
    """claude-coder-1's interests (m/rust-help, "error", questions only) pick one post; a second agent's empty feed
    starts no sandbox and makes no LLM call."""
    discovery = {"behavior.discovery.enabled": True, "capabilities.mcp_servers": []}
    agent_id = coder(system, "claude-coder-1", "claude-code", **discovery)
    idle_id = coder(system, "claude-idle", "claude-code", **discovery, **{"interests.communities": ["m/typescript"]})
    match = system.hub.human_post("erin", "Why does this borrow error happen?", community="rust-help")
    elsewhere = system.hub.human_post("dana", "Why are my tomatoes splitting?", community="garden")
    for name in ("claude-coder-1", "claude-idle"):  # answer nothing but the feed
        for note in system.hub.inbox(system.hub.require_agent(name), unread_only=True):
            note.read = True
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.replies_by("claude-coder-1"), timeout_s=90)
    await eventually(system.settled, timeout_s=30)
    [comment] = system.replies_by("claude-coder-1")
    assert comment.post_id == match.id
    assert not [c for c in system.hub.content.comments if c.post_id == elsewhere.id]
    completed = await completed_of(system, agent_id)
    assert completed["outcome"] == "replied" and completed["comments"] == [comment.id]
    asked = orjson.dumps([r.body for r in system.fake.requests]).decode()
    assert "From your discovery feed" in asked and "borrow error" in asked and "tomatoes" not in asked
    [event] = [e for e in await system.results() if (e.get_data() or {}).get("agent_id") == agent_id]
    trace = tracing.trace_id(str(event["traceparent"]))  # the CLI's calls, through the gateway, carry its trace
    through_gateway = [r for r in system.fake.requests if r.path == "/v1/messages"]
    assert through_gateway and {tracing.trace_id(r.headers["traceparent"]) for r in through_gateway} == {trace}
    idle = await completed_of(system, idle_id)
    assert idle["outcome"] == "nothing_to_do" and not (idle.get("usage") or {}).get("cost_usd")
    entries = await transcript_of(system, idle["activation_id"])
    assert not [e for e in entries if e["kind"] in ("cli_run", "llm_request", "llm_response")]


@pytest.mark.parametrize(
    "system_overrides", [{"runner": RunnerSettings(activation_timeout_s=60, max_cost_usd=0.07)}], indirect=True
)
async def test_a_cost_cap_reached_mid_run_stops_the_cli_with_no_call_past_it(system: System) -> None:
    agent_id = coder(
        system, "claude-cheap", "claude-code", **{"capabilities.mcp_servers": [], "brain.max_tokens": 1000}
    )
    search = ToolCall(name="mcp__hub__search", input={"query": "rust"})
    system.fake.add_script(
        Script(name="long", steps=[Step(tool_calls=[search]), Step(tool_calls=[search]), Step(text="done")])
    )
    system.hub.human_post("dana", "@claude-cheap dig in [[script:long]]")
    await system.tick()
    await system.start_runner()

    await eventually(system.settled, timeout_s=90)
    completed = await completed_of(system, agent_id)
    assert completed["outcome"] == "cost_cap"
    assert 0 < completed["usage"]["cost_usd"] <= 0.07
    assert system.replies_by("claude-cheap") == []
    entries = await transcript_of(system, completed["activation_id"])
    assert [e["reason"] for e in entries if e["kind"] == "llm_refused"] == ["cost_cap"]
    answered = [e for e in entries if e["kind"] == "llm_response"]
    reached = [r for r in system.fake.requests if r.path == "/v1/messages"]
    assert len(reached) == len(answered) < 3, "the refused call never reached the LLM; the script's end never came"


def probe_script() -> str:
    return r"""
import json, os, socket, urllib.request
def reach(host, port):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((host, port)); return True
    except OSError:
        return False
    finally:
        s.close()
found = {"env": {k: v for k, v in os.environ.items()}}
try:
    found["gateway"] = urllib.request.urlopen("http://127.0.0.1:4141/", timeout=5).status
except Exception as exc:
    found["gateway"] = repr(exc)
found["reach"] = {f"{h}:{p}": reach(h, p) for h, p in json.loads(os.environ.get("PROBE_PORTS", "[]"))}
secrets = []
for top in ("/workspace", "/opt/botburrow", "/etc", "/tmp"):
    for root, dirs, files in os.walk(top):
        for f in files:
            try:
                data = open(os.path.join(root, f), "rb").read(2_000_000)
            except OSError:
                continue
            if b"sk-fake-0123456789" in data or b"botburrow-local" in data:
                secrets.append(os.path.join(root, f))
found["files_with_secrets"] = secrets
print("PROBE " + json.dumps(found))
"""


async def test_inside_the_cli_sandbox_only_the_gateway_answers_and_no_credential_is_there(system: System) -> None:
    agent_id = coder(
        system,
        "claude-probe",
        "claude-code",
        **{"capabilities.mcp_servers": [], "capabilities.shell.allowed_commands": []},
    )
    ports = [
        ["127.0.0.1", urlsplit(system.settings.redis_url).port],
        ["127.0.0.1", urlsplit(system.hub_url).port],
        ["127.0.0.1", urlsplit(system.fake.url).port],
        ["169.254.169.254", 80],
        ["1.1.1.1", 443],
        ["8.8.8.8", 53],
    ]
    command = f"PROBE_PORTS={shlex.quote(orjson.dumps(ports).decode())} python3 -c {shlex.quote(PROBE)}"
    bash = ToolCall(name="Bash", input={"command": command})
    system.fake.add_script(Script(name="probe", steps=[Step(tool_calls=[bash]), Step(text="probed")]))
    system.hub.human_post("dana", "@claude-probe look around [[script:probe]]")
    await system.tick()
    await system.start_runner()

    await eventually(system.settled, timeout_s=90)
    assert (await completed_of(system, agent_id))["outcome"] == "replied"
    seen = tool_results(system)
    assert "PROBE " in seen, seen[:2000]
    found = orjson.loads(seen.split("PROBE ", 1)[1].splitlines()[0])
    secrets = {LLM_KEY, system.settings.hub.api_key.reveal()}
    leaked = [k for k, v in found["env"].items() if any(secret in v for secret in secrets)]
    assert leaked == [] and found["files_with_secrets"] == []
    assert found["env"]["ANTHROPIC_API_KEY"].startswith("bbgw-"), "the activation token is its only key"
    assert found["gateway"] == 200
    assert found["reach"] == {f"{host}:{port}": False for host, port in ports}


PROBE = r"""
import json, os, socket, urllib.request
def reach(host, port):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((host, port)); return True
    except OSError:
        return False
    finally:
        s.close()
found = {"env": dict(os.environ)}
try:
    found["gateway"] = urllib.request.urlopen("http://127.0.0.1:4141/", timeout=5).status
except Exception as exc:
    found["gateway"] = repr(exc)
found["reach"] = {f"{h}:{p}": reach(h, p) for h, p in json.loads(os.environ["PROBE_PORTS"])}
marks = [m.encode() for m in os.environ.get("PROBE_SECRETS", "").split(",") if m]
found["files_with_secrets"] = []
for top in ("/workspace", "/opt/botburrow", "/etc", "/tmp", "/run"):
    for root, dirs, files in os.walk(top):
        for f in files:
            try:
                data = open(os.path.join(root, f), "rb").read(2_000_000)
            except OSError:
                continue
            if any(m in data for m in (b"sk-fake-0123456789", b"botburrow-local")):
                found["files_with_secrets"].append(os.path.join(root, f))
print("PROBE " + json.dumps(found))
"""


def tool_results(system: System) -> str:
    """Every tool result the CLI sent the model, as text."""
    texts: list[str] = []
    for r in system.fake.requests:
        if r.path != "/v1/messages" or not isinstance(r.body, dict):
            continue
        for message in r.body.get("messages", []):
            for block in message.get("content") if isinstance(message.get("content"), list) else []:
                if block.get("type") == "tool_result":
                    content = block.get("content")
                    if isinstance(content, list):
                        content = "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
                    texts.append(str(content))
    return "\n".join(texts)


async def test_a_storm_of_429s_ends_in_the_retry_policys_outcome(system: System) -> None:
    coder(system, "claude-storm", "claude-code", **{"capabilities.mcp_servers": []})
    system.fake.add_script(Script(name="storm", steps=[Step(fail=Fail(kind="rate_limit", retry_after_s=0))]))
    system.hub.human_post("dana", "@claude-storm hello [[script:storm]]")
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.redis.xlen(system.keys.dlq), timeout_s=120)
    [(_, fields)] = await system.redis.xrange(system.keys.dlq)
    assert fields[b"reason"].startswith(b"failed 5 deliveries"), fields  # the pump's retries, then its dead letter
    said = b" ".join(fields.values())
    assert b"LLM calls failed" in said and b"429" in said, fields
    assert system.replies_by("claude-storm") == []


@pytest.mark.parametrize(
    "system_overrides", [{"runner": RunnerSettings(activation_timeout_s=6, max_cost_usd=1.0)}], indirect=True
)
async def test_a_cli_past_the_deadline_is_killed_with_nothing_left_running(system: System) -> None:
    coder(system, "claude-slow", "claude-code", **{"capabilities.mcp_servers": []})
    system.fake.add_script(Script(name="slow", steps=[Step(text="too late", delay_s=12)]))
    system.hub.human_post("dana", "@claude-slow take your time [[script:slow]]")
    await system.tick()
    await system.start_runner()

    await eventually(lambda: system.redis.xlen(system.keys.dlq), timeout_s=60)
    [(_, fields)] = await system.redis.xrange(system.keys.dlq)
    assert b"ran past the activation's deadline" in b" ".join(fields.values()), fields
    assert system.replies_by("claude-slow") == []
    assert running_clis() == [], "the CLI's whole process tree was killed"


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_a_runner_sigkilled_while_the_cli_runs_yields_exactly_one_reply(
    system: System, tmp_path: Path, backend: str
) -> None:
    """A runner process killed while its Claude Code waits on the model: the entry is
    reclaimed, the CLI run again by another runner, and the mention gets one reply. Nothing
    of the first run is left: bwrap dies with its parent; the second runner removes the dead
    one's container before it starts its own."""
    agent_id = coder(system, "claude-kill", "claude-code", **{"capabilities.mcp_servers": []})
    system.fake.add_script(Script(name="pause", steps=[Step(text="Reviewed: looks good.", delay_s=4)]))
    post = system.hub.human_post("dana", "@claude-kill please review [[script:pause]]")
    await system.tick()
    env = {"SANDBOX_BACKEND": backend, "CLI_DIR": str(CLIS), "CLI_MAX_RETRIES": "1", "ACTIVATION_TIMEOUT": "60"}
    if backend == "docker":
        env |= {"DOCKER_HOST": system.settings.sandbox.docker_host, "CLI_IMAGE": CLI_IMAGE}

    first = system.runner_process(tmp_path / "runner-1.log", **env)
    try:
        await eventually(lambda: [r for r in system.fake.requests if r.path == "/v1/messages"], timeout_s=60)
        assert running_clis(), "the CLI is running, waiting on the model"
        first.kill()
        first.wait(timeout=10)
    finally:
        first.kill()
    if backend == "bwrap":
        await eventually(lambda: running_clis() == [], timeout_s=10)  # --die-with-parent
    assert system.replies_by("claude-kill") == []

    second = system.runner_process(tmp_path / "runner-2.log", **env)
    try:
        await eventually(lambda: system.replies_by("claude-kill"), timeout_s=90)
        await eventually(system.settled, timeout_s=30)
    finally:
        second.terminate()
        second.wait(timeout=30)
    [reply] = system.replies_by("claude-kill")
    assert reply.post_id == post.id and "Reviewed: looks good." in reply.content
    outcomes = [e.get_data()["outcome"] for e in await system.results() if e["subject"] == agent_id]
    assert outcomes == ["replied"], "the killed attempt reported nothing; the second replied once"
    assert running_clis() == []


def running_clis() -> list[str]:
    """The command lines of processes on this host running an installed CLI."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(
            str(binary) in line or f"/opt/botburrow/clis/{binary.relative_to(CLIS)}" in line
            for binary in INSTALLED.values()
        ):
            found.append(line)
    return found

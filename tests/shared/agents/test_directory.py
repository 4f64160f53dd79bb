"""Loading agent definitions from a directory: both layouts, defaults, invalid agents, name safety."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from shared.agents import (
    AgentConfig,
    AgentDefinition,
    AgentStore,
    DirectorySource,
    agent_names,
    load_agent,
)
from shared.errors import AgentNotFound, ConfigurationError, InvalidAgent
from tests.shared.agents.conftest import DEFINITIONS, INVALID, INVALID_NAMES, SCHEMAS, VALID_NAMES, copy_agents

pytestmark = pytest.mark.usefixtures("fixtures")


def checkout_store() -> AgentStore:
    return AgentStore(DirectorySource(DEFINITIONS))


def write_agent(
    root: Path, name: str, config: dict[str, Any] | str, prompt: str | None = "You are a test agent."
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
    (folder / "config.yaml").write_text(text)
    if prompt is not None:
        (folder / "system-prompt.md").write_text(prompt)
    return folder


def minimal(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "native", "brain": {"model": "m"}, "capabilities": {}, **extra}


async def invalid(root: Path, name: str) -> InvalidAgent:
    with pytest.raises(InvalidAgent) as caught:
        await AgentStore(DirectorySource(root)).get(name)
    return caught.value


# --- every fixture agent, both layouts ---------------------------------------------------------


@pytest.mark.parametrize("name", VALID_NAMES)
async def test_every_fixture_agent_loads_from_the_checkout_root(name: str) -> None:
    agent = await checkout_store().get(name)
    folder = DEFINITIONS / "agents" / name
    assert agent.name == name
    assert agent.system_prompt == (folder / "system-prompt.md").read_text()
    assert agent.origin == str(folder)
    assert [s.name for s in agent.skills] == list(agent.config.capabilities.skills)
    assert agent.missing_skills == ()
    for skill in agent.skills:
        assert skill.origin == str(DEFINITIONS / "skills" / skill.name / "SKILL.md")
        assert skill.body.startswith("# ")
        assert skill.meta.requires_grants, "every fixture skill declares the grants it needs"


async def test_the_checkout_root_lists_exactly_its_agents() -> None:
    assert (
        agent_names(DEFINITIONS)
        == VALID_NAMES
        == ["claude-coder-1", "devops-agent", "sprint-coder", "test-persona-agent"]
    )
    report = await checkout_store().load_all()
    assert sorted(report.agents) == VALID_NAMES
    assert report.invalid == []
    assert report.ok


async def test_a_folder_of_agents_loads_the_same_definitions(tmp_path: Path) -> None:
    flat = copy_agents(DEFINITIONS / "agents", tmp_path / "defs", VALID_NAMES)
    shutil.copytree(DEFINITIONS / "skills", flat / "skills")  # an inner skills/ folder
    (flat / ".git").mkdir()
    (flat / "templates" / "x").mkdir(parents=True)
    (flat / "notes").mkdir()  # no config.yaml: not an agent
    assert agent_names(flat) == VALID_NAMES
    by_root = await checkout_store().load_all()
    by_folder = await AgentStore(DirectorySource(flat)).load_all()
    assert sorted(by_folder.agents) == VALID_NAMES
    for name in VALID_NAMES:
        here, there = by_folder.agents[name], by_root.agents[name]
        assert (here.config, here.system_prompt) == (there.config, there.system_prompt)
        assert [(s.meta, s.body) for s in here.skills] == [(s.meta, s.body) for s in there.skills]
        assert here.origin == str(flat / name)


async def test_a_checkouts_agents_folder_finds_the_sibling_skills() -> None:
    source = DirectorySource(DEFINITIONS / "agents")
    assert not source.checkout
    report = await AgentStore(source).load_all()
    assert sorted(report.agents) == VALID_NAMES
    assert all(a.missing_skills == () and a.skills for a in report.agents.values())


async def test_a_listed_skill_that_does_not_exist_is_a_warning(tmp_path: Path) -> None:
    flat = copy_agents(DEFINITIONS / "agents", tmp_path / "lonely" / "defs", ["claude-coder-1"])
    agent = await AgentStore(DirectorySource(flat)).get("claude-coder-1")
    assert agent.skills == ()
    assert agent.missing_skills == ("hub-post", "hub-search", "budget-check")


async def test_a_cli_agents_temperature_is_reported_as_not_honoured(tmp_path: Path) -> None:
    """A CLI is not told the temperature: loading says so, naming the field (native is silent)."""
    write_agent(tmp_path, "warm-cli", minimal("warm-cli", type="claude-code", brain={"model": "m", "temperature": 0.2}))
    write_agent(tmp_path, "warm-native", minimal("warm-native", brain={"model": "m", "temperature": 0.2}))
    write_agent(tmp_path, "plain-cli", minimal("plain-cli", type="claude-code"))
    store = AgentStore(DirectorySource(tmp_path))
    with structlog.testing.capture_logs() as logs:
        for name in ("warm-cli", "warm-native", "plain-cli"):
            await store.get(name)
    warned = [(e["agent"], e["field"]) for e in logs if e["event"] == "agents.field_not_honoured"]
    assert warned == [("warm-cli", "brain.temperature")]


# --- defaults ----------------------------------------------------------------------------------


async def test_defaults_are_applied_where_the_file_is_silent() -> None:
    store = checkout_store()
    sprint = (await store.get("sprint-coder")).config
    assert sprint.brain.provider == "openai"
    assert sprint.brain.api_base == "https://api.openai.com/v1"
    assert sprint.brain.api_key_env == "OPENAI_API_KEY"
    assert sprint.behavior.max_iterations == 20
    assert sprint.behavior.discovery.min_confidence == 0.7  # not in the file: the schema's default
    assert sprint.behavior.discovery.respond_to_questions is False
    assert sprint.behavior.discovery.frequency is None
    assert sprint.capabilities.spawning.can_propose is False
    assert sprint.memory.max_size_mb == 100
    assert sprint.memory.retrieval.strategy == "embedding_search"
    assert sprint.memory.retrieval.relevance_threshold == 0.7
    persona = (await store.get("test-persona-agent")).config
    assert persona.capabilities.shell.timeout_seconds == 120
    assert persona.behavior.respond_to_dms is False
    coder = (await store.get("claude-coder-1")).config
    assert (coder.cache_ttl, coder.brain.provider, coder.brain.api_base) == (180, "anthropic", None)
    assert coder.capabilities.mcp_servers == ("github", "filesystem")


def schema_defaults(schema: dict[str, Any], path: str = "") -> dict[str, Any]:
    """Every ``default`` the schema declares, by dotted path."""
    found: dict[str, Any] = {}
    for key, sub in schema.get("properties", {}).items():
        where = f"{path}{key}"
        if "default" in sub:
            found[where] = sub["default"]
        found.update(schema_defaults(sub, where + "."))
    return found


def test_a_minimal_config_gets_every_default_the_schema_declares() -> None:
    schema = yaml.safe_load((SCHEMAS / "agent-config.schema.json").read_text())
    defaults = schema_defaults(schema)
    assert {"cache_ttl", "brain.provider", "behavior.limits.max_daily_posts", "memory.retrieval.strategy"} <= set(
        defaults
    )
    config = AgentConfig.model_validate(minimal("tiny-bot")).model_dump()
    for path, default in defaults.items():
        value: Any = config
        for part in path.split("."):
            value = value[part]
        assert value == default, path
    limits = AgentConfig.model_validate(minimal("tiny-bot")).behavior.limits
    assert (limits.max_daily_posts, limits.max_daily_comments, limits.max_responses_per_thread) == (5, 50, 3)
    assert limits.min_interval_seconds == 60


# --- invalid agents ----------------------------------------------------------------------------

EXPECTED_FIELDS = {"claude-coder-1": "brain.top_p", "simple-bot": "capabilities"}


@pytest.mark.parametrize("name", INVALID_NAMES)
async def test_every_invalid_fixture_is_rejected_naming_file_and_field(name: str) -> None:
    error = await invalid(INVALID, name)
    assert error.name == name
    assert error.file == str(INVALID / name / "config.yaml")
    assert error.field == EXPECTED_FIELDS[name]
    assert f"{error.file}: {error.field}: " in str(error)


async def test_the_other_faulty_fields_are_named_too() -> None:
    coder = await invalid(INVALID, "claude-coder-1")
    assert coder.problem.startswith("unknown key, not allowed by schema v1 (line 17); 7 more problems: ")
    assert "brain.max_context_tokens, capabilities.filesystem" in coder.problem
    bot = await invalid(INVALID, "simple-bot")
    assert bot.problem == "required, but missing; 1 more problem: behavior.notifications"


async def test_a_mix_loads_the_valid_and_reports_the_invalid(tmp_path: Path) -> None:
    mix = copy_agents(DEFINITIONS / "agents", tmp_path / "mix", ["devops-agent", "sprint-coder"])
    copy_agents(INVALID, mix, ["claude-coder-1", "simple-bot"])
    shutil.copytree(DEFINITIONS / "skills", mix / "skills")
    report = await AgentStore(DirectorySource(mix)).load_all()
    assert sorted(report.agents) == ["devops-agent", "sprint-coder"]
    assert sorted((e.name, e.field) for e in report.invalid) == [
        ("claude-coder-1", "brain.top_p"),
        ("simple-bot", "capabilities"),
    ]
    assert not report.ok


async def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    write_agent(
        tmp_path, "broken-yaml", "name: broken-yaml\ntype: native\nbrain:\n  model: [unclosed\ncapabilities: {}\n"
    )
    error = await invalid(tmp_path, "broken-yaml")
    assert error.file == str(tmp_path / "broken-yaml" / "config.yaml")
    assert error.field == ""
    assert error.problem.startswith("not valid YAML at line 5, column")


async def test_a_nested_error_names_its_line(tmp_path: Path) -> None:
    text = "name: nested-bot\ntype: native\nbrain: {model: m}\n"
    text += "capabilities:\n  mcp_servers:\n    - github\n    - name: git\n"
    write_agent(tmp_path, "nested-bot", text + "behavior:\n  limits:\n    max_daily_posts: -1\n")
    error = await invalid(tmp_path, "nested-bot")
    assert error.field == "capabilities.mcp_servers.1.command"
    assert error.problem == "required, but missing; 1 more problem: behavior.limits.max_daily_posts"
    write_agent(
        tmp_path, "other-bot", text.replace("nested-bot", "other-bot") + "      command: git-mcp\n      surprise: 1\n"
    )
    error = await invalid(tmp_path, "other-bot")
    assert error.field == "capabilities.mcp_servers.1.surprise"
    assert error.problem == "unknown key, not allowed by schema v1 (line 9)"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a mapping of keys to values, found an empty file"),
        ("- a\n- b\n", "expected a mapping of keys to values, found a list"),
    ],
)
async def test_a_config_that_is_not_a_mapping_is_invalid(tmp_path: Path, text: str, problem: str) -> None:
    write_agent(tmp_path, "odd-bot", text)
    error = await invalid(tmp_path, "odd-bot")
    assert (error.field, error.problem) == ("", problem)


async def test_the_folder_name_must_equal_name(tmp_path: Path) -> None:
    write_agent(tmp_path, "folder-name", minimal("other-name"))
    error = await invalid(tmp_path, "folder-name")
    assert (error.field, error.file) == ("name", str(tmp_path / "folder-name" / "config.yaml"))
    assert error.problem == "must equal the agent's folder name 'folder-name', found 'other-name'"


async def test_a_folder_with_an_impossible_name_is_reported_not_read(tmp_path: Path) -> None:
    write_agent(tmp_path, "Bad_Name", minimal("bad-name"))
    write_agent(tmp_path, "good-name", minimal("good-name"))
    report = await AgentStore(DirectorySource(tmp_path)).load_all()
    assert list(report.agents) == ["good-name"]
    [error] = report.invalid
    assert (error.name, error.file, error.field) == ("Bad_Name", str(tmp_path / "Bad_Name"), "name")


@pytest.mark.parametrize(
    ("prompt", "problem"), [(None, "missing: every agent needs a system-prompt.md"), (" \n", "is empty")]
)
async def test_a_missing_or_blank_system_prompt_is_invalid(tmp_path: Path, prompt: str | None, problem: str) -> None:
    write_agent(tmp_path, "mute-bot", minimal("mute-bot"), prompt=prompt)
    error = await invalid(tmp_path, "mute-bot")
    assert (error.file, error.field, error.problem) == (str(tmp_path / "mute-bot" / "system-prompt.md"), "", problem)


@pytest.mark.parametrize(
    ("skill_text", "field", "problem"),
    [
        ("# no frontmatter\n", "", "no YAML frontmatter"),
        ("---\nname: my-skill\n---\nbody\n", "description", "required, but missing"),
        (
            "---\nname: my-skill\ndescription: d\nrequires_grants: [hub]\n---\n",
            "requires_grants.0",
            "String should match",
        ),
        ("---\nname: other\ndescription: d\n---\n", "name", "must equal the skill's folder name 'my-skill'"),
        ("---\nname: my-skill\ndescription: d\nmcp: {server: {args: []}}\n---\n", "mcp.server.command", "required"),
    ],
)
async def test_a_malformed_skill_makes_the_agent_invalid(
    tmp_path: Path, skill_text: str, field: str, problem: str
) -> None:
    write_agent(tmp_path, "skilled-bot", minimal("skilled-bot", capabilities={"skills": ["my-skill"]}))
    (tmp_path / "skills" / "my-skill").mkdir(parents=True)
    (tmp_path / "skills" / "my-skill" / "SKILL.md").write_text(skill_text)
    error = await invalid(tmp_path, "skilled-bot")
    assert (error.file, error.field) == (str(tmp_path / "skills" / "my-skill" / "SKILL.md"), field)
    assert error.problem.startswith(problem)


async def test_a_skill_error_names_the_line_in_the_file(tmp_path: Path) -> None:
    write_agent(tmp_path, "skilled-bot", minimal("skilled-bot", capabilities={"skills": ["my-skill"]}))
    (tmp_path / "skills" / "my-skill").mkdir(parents=True)
    (tmp_path / "skills" / "my-skill" / "SKILL.md").write_text(
        "---\nname: my-skill\ndescription: d\nsurprise: 1\n---\n"
    )
    error = await invalid(tmp_path, "skilled-bot")
    assert (error.field, error.problem) == ("surprise", "unknown key, not allowed by schema v1 (line 4)")


async def test_a_file_that_is_not_utf8_is_invalid(tmp_path: Path) -> None:
    write_agent(tmp_path, "latin-bot", minimal("latin-bot"))
    (tmp_path / "latin-bot" / "system-prompt.md").write_bytes("Café".encode("latin-1"))
    error = await invalid(tmp_path, "latin-bot")
    assert (error.file, error.problem) == (str(tmp_path / "latin-bot" / "system-prompt.md"), "not UTF-8 text")


# --- name safety -------------------------------------------------------------------------------


class Spy:
    """A source that records every call and serves nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def agent_names(self) -> list[str]:
        self.calls.append("agent_names")
        return []

    def read_text(self, path: str) -> str | None:
        self.calls.append(path)
        return None

    def locate(self, path: str) -> str:
        self.calls.append(f"locate {path}")
        return path


UNSAFE = ["../x", "a/b", "..", "../../etc/passwd", "/etc/passwd", "Admin", "ab", "a" * 51, "bot\n", "bot ", "", "a\\b"]


@pytest.mark.parametrize("name", UNSAFE)
async def test_an_impossible_name_is_refused_without_reading_anything(name: str) -> None:
    spy = Spy()
    with pytest.raises(AgentNotFound):
        await AgentStore(spy).get(name)
    with pytest.raises(AgentNotFound):
        load_agent(spy, name)
    assert spy.calls == []


@pytest.mark.parametrize(
    "path", ["agents/../../etc/passwd", "/etc/passwd", "agents//x", "skills/./x", "agents/a\\..\\b"]
)
def test_a_source_refuses_paths_that_could_climb_out(path: str) -> None:
    source = DirectorySource(DEFINITIONS)
    with pytest.raises(ValueError, match="unsafe path"):
        source.read_text(path)


async def test_a_symlink_out_of_the_definitions_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    folder = write_agent(tmp_path / "defs", "link-bot", minimal("link-bot"), prompt=None)
    (folder / "system-prompt.md").symlink_to(secret)
    error = await invalid(tmp_path / "defs", "link-bot")
    assert error.file == str(folder / "system-prompt.md")
    assert "leads outside" in error.problem


async def test_an_unknown_agent_is_not_found() -> None:
    with pytest.raises(AgentNotFound, match="no-such-agent"):
        await checkout_store().get("no-such-agent")


def test_a_directory_that_does_not_exist_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        agent_names(tmp_path / "nowhere")
    assert agent_names(tmp_path) == []


def test_the_definition_exposes_name_and_ttl() -> None:
    agent = load_agent(DirectorySource(DEFINITIONS), "devops-agent")
    assert isinstance(agent, AgentDefinition)
    assert (agent.name, agent.cache_ttl_s) == ("devops-agent", 60)


async def test_loading_claude_coder_1_names_exactly_the_fields_nothing_here_acts_on() -> None:
    """The README lists these as the fields still ignored; interests, discovery, shell and the rest are acted on."""
    with structlog.testing.capture_logs() as logs:
        await AgentStore(DirectorySource(DEFINITIONS)).get("claude-coder-1")
    warned = sorted(e["field"] for e in logs if e["event"] == "agents.field_not_honoured")
    assert warned == [
        "brain.temperature",
        "capabilities.shell.blocked_patterns",
        "capabilities.spawning.can_propose",
        "memory.enabled",
    ]
    assert all(
        e["agent"] == "claude-coder-1" and e["reason"] for e in logs if e["event"] == "agents.field_not_honoured"
    )

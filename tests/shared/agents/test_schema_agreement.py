"""The JSON schemas are the referee: jsonschema and the pydantic models must give the same verdict.

For every fixture config (valid and invalid), every fixture skill, and targeted
mutations of a valid config, ``Draft202012Validator`` and the models agree; where the
verdict is "invalid", the loader's error names the expected field.

jsonschema checks ``format: uri`` only when ``rfc3987`` is installed, which it is not,
so the referee gets an RFC 3986 check of its own, written apart from the models'.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import string
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ValidationError

from shared.agents import AgentConfig, SkillMeta, parse_config
from shared.errors import InvalidAgent
from tests.shared.agents.conftest import DEFINITIONS, INVALID, INVALID_NAMES, SCHEMAS, SKILL_NAMES, VALID_NAMES

pytestmark = pytest.mark.usefixtures("fixtures")

_URI_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_checker = FormatChecker()


@_checker.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    scheme = urlsplit(value).scheme
    return (
        bool(scheme)
        and scheme[0] in string.ascii_letters
        and set(value) <= _URI_CHARS
        and value.count("#") <= 1
        and re.search(r"%(?![0-9A-Fa-f]{2})", value) is None
    )


@functools.cache
def referee(schema_file: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_checker)


def model_accepts(model: type[BaseModel], data: Any) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def schema_accepts(validator: Draft202012Validator, data: Any) -> bool:
    return not list(validator.iter_errors(data))


def fixture_configs() -> list[Any]:
    valid = [pytest.param(DEFINITIONS / "agents" / n, True, id=f"agents/{n}") for n in VALID_NAMES]
    invalid = [pytest.param(INVALID / n, False, id=f"invalid-agents/{n}") for n in INVALID_NAMES]
    return valid + invalid


@pytest.mark.parametrize(("folder", "valid"), fixture_configs())
def test_fixture_configs(folder: Any, valid: bool) -> None:
    data = yaml.safe_load((folder / "config.yaml").read_text())
    verdicts = {"jsonschema": schema_accepts(referee("agent-config.schema.json"), data)}
    verdicts["models"] = model_accepts(AgentConfig, data)
    assert verdicts == {"jsonschema": valid, "models": valid}


@pytest.mark.parametrize("name", SKILL_NAMES)
def test_fixture_skills(name: str) -> None:
    text = (DEFINITIONS / "skills" / name / "SKILL.md").read_text()
    data = yaml.safe_load(text.split("---\n")[1])
    assert schema_accepts(referee("skill.schema.json"), data)
    assert model_accepts(SkillMeta, data)


DELETE = object()

# (id, dotted path, new value, valid?, field the loader names when invalid)
MUTATIONS: list[tuple[str, str, Any, bool, str]] = [
    # unknown keys, at every level
    ("unknown-top", "surprise", 1, False, "surprise"),
    ("unknown-brain", "brain.top_p", 0.9, False, "brain.top_p"),
    ("unknown-capabilities", "capabilities.network", {}, False, "capabilities.network"),
    ("unknown-shell", "capabilities.shell.sudo", True, False, "capabilities.shell.sudo"),
    ("unknown-spawning", "capabilities.spawning.max", 1, False, "capabilities.spawning.max"),
    ("unknown-interests", "interests.hobbies", [], False, "interests.hobbies"),
    ("unknown-behavior", "behavior.notifications", {}, False, "behavior.notifications"),
    ("unknown-discovery", "behavior.discovery.when", "x", False, "behavior.discovery.when"),
    ("unknown-limits", "behavior.limits.max_daily_votes", 1, False, "behavior.limits.max_daily_votes"),
    ("unknown-memory", "memory.storage", {}, False, "memory.storage"),
    ("unknown-remember", "memory.remember.everything", True, False, "memory.remember.everything"),
    ("unknown-retrieval", "memory.retrieval.k", 3, False, "memory.retrieval.k"),
    (
        "unknown-mcp-object",
        "capabilities.mcp_servers",
        [{"name": "g", "command": "c", "x": 1}],
        False,
        "capabilities.mcp_servers.0.x",
    ),
    # enums
    ("enum-type", "type", "robot", False, "type"),
    ("enum-provider", "brain.provider", "azure", False, "brain.provider"),
    ("enum-frequency", "behavior.discovery.frequency", "weekly", False, "behavior.discovery.frequency"),
    ("enum-frequency-ok", "behavior.discovery.frequency", "daily", True, ""),
    ("enum-strategy", "memory.retrieval.strategy", "vector", False, "memory.retrieval.strategy"),
    ("enum-type-ok", "type", "goose", True, ""),
    # patterns
    ("name-upper", "name", "Sprint-Coder", False, "name"),
    ("name-underscore", "name", "sprint_coder", False, "name"),
    ("version-short", "version", "1.0", False, "version"),
    ("version-v", "version", "v1.0.0", False, "version"),
    ("api-key-env-lower", "brain.api_key_env", "openai_key", False, "brain.api_key_env"),
    ("grant-no-permission", "capabilities.grants", ["hub"], False, "capabilities.grants.0"),
    ("grant-four-parts", "capabilities.grants", ["a:b:c:d"], False, "capabilities.grants.0"),
    ("grant-three-parts-ok", "capabilities.grants", ["hub:read:all"], True, ""),
    ("skill-upper", "capabilities.skills", ["Hub"], False, "capabilities.skills.0"),
    ("skill-slash", "capabilities.skills", ["../hub"], False, "capabilities.skills.0"),
    ("community-no-m", "interests.communities", ["general"], False, "interests.communities.0"),
    # numbers out of range, and at the edges
    ("temperature-high", "brain.temperature", 2.5, False, "brain.temperature"),
    ("temperature-negative", "brain.temperature", -0.1, False, "brain.temperature"),
    ("temperature-zero", "brain.temperature", 0, True, ""),
    ("temperature-two", "brain.temperature", 2, True, ""),
    ("max-tokens-low", "brain.max_tokens", 99, False, "brain.max_tokens"),
    ("max-tokens-high", "brain.max_tokens", 128001, False, "brain.max_tokens"),
    ("max-tokens-edge", "brain.max_tokens", 100, True, ""),
    ("cache-ttl-low", "cache_ttl", 29, False, "cache_ttl"),
    ("cache-ttl-high", "cache_ttl", 3601, False, "cache_ttl"),
    ("cache-ttl-edges", "cache_ttl", 3600, True, ""),
    ("cache-ttl-float-integral", "cache_ttl", 60.0, True, ""),
    ("cache-ttl-fraction", "cache_ttl", 60.5, False, "cache_ttl"),
    ("max-iterations-zero", "behavior.max_iterations", 0, False, "behavior.max_iterations"),
    ("max-iterations-high", "behavior.max_iterations", 51, False, "behavior.max_iterations"),
    ("min-confidence-high", "behavior.discovery.min_confidence", 1.5, False, "behavior.discovery.min_confidence"),
    ("daily-posts-negative", "behavior.limits.max_daily_posts", -1, False, "behavior.limits.max_daily_posts"),
    ("daily-posts-zero", "behavior.limits.max_daily_posts", 0, True, ""),
    ("shell-timeout-zero", "capabilities.shell.timeout_seconds", 0, False, "capabilities.shell.timeout_seconds"),
    ("memory-size-high", "memory.max_size_mb", 1001, False, "memory.max_size_mb"),
    ("context-items-zero", "memory.retrieval.max_context_items", 0, False, "memory.retrieval.max_context_items"),
    ("relevance-negative", "memory.retrieval.relevance_threshold", -0.5, False, "memory.retrieval.relevance_threshold"),
    # uniqueItems
    ("grants-duplicate", "capabilities.grants", ["hub:read", "hub:read"], False, "capabilities.grants"),
    ("skills-duplicate", "capabilities.skills", ["hub-post", "hub-post"], False, "capabilities.skills"),
    # mcp_servers: a name, or an object with name and command
    ("mcp-missing-command", "capabilities.mcp_servers", [{"name": "git"}], False, "capabilities.mcp_servers.0.command"),
    ("mcp-missing-name", "capabilities.mcp_servers", [{"command": "git"}], False, "capabilities.mcp_servers.0.name"),
    ("mcp-number", "capabilities.mcp_servers", [42], False, "capabilities.mcp_servers.0"),
    (
        "mcp-env-number",
        "capabilities.mcp_servers",
        [{"name": "g", "command": "c", "env": {"T": 1}}],
        False,
        "capabilities.mcp_servers.0.env.T",
    ),
    (
        "mcp-args-number",
        "capabilities.mcp_servers",
        [{"name": "g", "command": "c", "args": [1]}],
        False,
        "capabilities.mcp_servers.0.args.0",
    ),
    (
        "mcp-full-object",
        "capabilities.mcp_servers",
        ["hub", {"name": "g", "command": "c", "args": ["-v"], "env": {}}],
        True,
        "",
    ),
    # format: uri
    ("api-base-words", "brain.api_base", "not a uri", False, "brain.api_base"),
    ("api-base-no-scheme", "brain.api_base", "api.openai.com/v1", False, "brain.api_base"),
    ("api-base-space", "brain.api_base", "http://exa mple.com/v1", False, "brain.api_base"),
    ("api-base-bad-escape", "brain.api_base", "http://example.com/%zz", False, "brain.api_base"),
    ("api-base-localhost", "brain.api_base", "http://localhost:8080/v1", True, ""),
    ("api-base-query-fragment", "brain.api_base", "https://x.example/v1?a=b#c", True, ""),
    # lengths
    ("name-too-short", "name", "ab", False, "name"),
    ("name-too-long", "name", "a" * 51, False, "name"),
    ("display-name-long", "display_name", "x" * 101, False, "display_name"),
    ("description-long", "description", "x" * 501, False, "description"),
    # types and presence
    ("temperature-string", "brain.temperature", "0.7", False, "brain.temperature"),
    ("temperature-bool", "brain.temperature", True, False, "brain.temperature"),
    ("iterations-bool", "behavior.max_iterations", True, False, "behavior.max_iterations"),
    ("iterations-string", "behavior.max_iterations", "10", False, "behavior.max_iterations"),
    ("shell-enabled-string", "capabilities.shell.enabled", "yes", False, "capabilities.shell.enabled"),
    ("grants-string", "capabilities.grants", "hub:read", False, "capabilities.grants"),
    ("behavior-null", "behavior", None, False, "behavior"),
    ("api-base-null", "brain.api_base", None, False, "brain.api_base"),
    ("frequency-null", "behavior.discovery.frequency", None, False, "behavior.discovery.frequency"),
    ("model-missing", "brain.model", DELETE, False, "brain.model"),
    ("model-number", "brain.model", 4, False, "brain.model"),
    ("brain-missing", "brain", DELETE, False, "brain"),
    ("capabilities-missing", "capabilities", DELETE, False, "capabilities"),
    ("capabilities-empty", "capabilities", {}, True, ""),
    ("type-missing", "type", DELETE, False, "type"),
    ("optional-objects-missing", "behavior", DELETE, True, ""),
    ("follow-agents-number", "interests.follow_agents", [1], False, "interests.follow_agents.0"),
    ("conversations-string", "memory.remember.conversations_with", "ron", False, "memory.remember.conversations_with"),
]


def base_config() -> dict[str, Any]:
    """sprint-coder's config, with every optional section filled in so each level exists."""
    data: dict[str, Any] = yaml.safe_load((DEFINITIONS / "agents" / "sprint-coder" / "config.yaml").read_text())
    data["capabilities"]["spawning"] = {"can_propose": False}
    data["memory"] = {"enabled": True, "remember": {"projects_worked_on": True}, "retrieval": {"strategy": "recent"}}
    data["behavior"]["discovery"]["frequency"] = "hourly"
    return data


def mutated(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base_config())
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


def test_the_base_config_is_valid() -> None:
    assert schema_accepts(referee("agent-config.schema.json"), base_config())
    assert model_accepts(AgentConfig, base_config())


@pytest.mark.parametrize(("path", "value", "valid", "field"), [pytest.param(*m[1:], id=m[0]) for m in MUTATIONS])
def test_mutations(path: str, value: Any, valid: bool, field: str) -> None:
    data = mutated(path, value)
    verdicts = {"jsonschema": schema_accepts(referee("agent-config.schema.json"), data)}
    verdicts["models"] = model_accepts(AgentConfig, data)
    assert verdicts == {"jsonschema": valid, "models": valid}
    if not valid:
        with pytest.raises(InvalidAgent) as caught:
            parse_config(yaml.safe_dump(data), name="sprint-coder", file="config.yaml")
        assert caught.value.field == field


def test_opencode_is_our_extension_and_custom_passes_the_schema_but_not_the_loader() -> None:
    """The two places the models and the loader part from schema v1 on purpose (see ``AgentType``)."""
    opencode = mutated("type", "opencode")
    assert not schema_accepts(referee("agent-config.schema.json"), opencode)  # v1 does not list it
    assert model_accepts(AgentConfig, opencode)
    assert parse_config(yaml.safe_dump(opencode), name="sprint-coder", file="config.yaml").type == "opencode"
    custom = mutated("type", "custom")
    assert schema_accepts(referee("agent-config.schema.json"), custom)
    with pytest.raises(InvalidAgent) as caught:
        parse_config(yaml.safe_dump(custom), name="sprint-coder", file="config.yaml")
    assert caught.value.field == "type" and "'custom' is not supported" in caught.value.problem


def test_a_trailing_newline_breaks_an_anchored_pattern() -> None:
    """Not in the table: jsonschema matches ``pattern`` with Python's ``re.search``, where ``$`` also
    matches before a final newline; JSON Schema specifies ECMA-262, where it does not. The models
    follow ECMA-262, so a name such as ``"sprint-coder\\n"`` never becomes a path."""
    data = mutated("name", "sprint-coder\n")
    assert not model_accepts(AgentConfig, data)
    assert not model_accepts(AgentConfig, mutated("capabilities.grants", ["hub:read\n"]))


@pytest.mark.parametrize("document", [[], "text", 3, None], ids=["list", "string", "number", "null"])
def test_a_document_that_is_not_a_mapping(document: Any) -> None:
    assert not schema_accepts(referee("agent-config.schema.json"), document)
    assert not model_accepts(AgentConfig, document)


SKILL_MUTATIONS: list[tuple[str, dict[str, Any], bool]] = [
    ("minimal", {}, True),
    ("unknown-key", {"license": "MIT"}, False),
    ("name-one-char", {"name": "x"}, False),
    ("name-two-chars", {"name": "xy"}, True),
    ("description-long", {"description": "d" * 201}, False),
    ("version-short", {"version": "1"}, False),
    ("cli-duplicate", {"requires_cli": ["git", "git"]}, False),
    ("grant-bad", {"requires_grants": ["hub"]}, False),
    ("triggers-unknown", {"triggers": {"mentions": True}}, False),
    ("triggers-community-bad", {"triggers": {"communities": ["general"]}}, False),
    ("mcp-server-ok", {"mcp": {"server": {"command": "x", "args": ["a"], "env": {"K": "v"}}}}, True),
    ("mcp-server-no-command", {"mcp": {"server": {"args": []}}}, False),
    ("mcp-unknown", {"mcp": {"client": {}}}, False),
    ("author-number", {"author": 7}, False),
]


@pytest.mark.parametrize(("changes", "valid"), [pytest.param(*m[1:], id=m[0]) for m in SKILL_MUTATIONS])
def test_skill_mutations(changes: dict[str, Any], valid: bool) -> None:
    data = {"name": "hub-post", "description": "Post to the Hub", **changes}
    verdicts = {
        "jsonschema": schema_accepts(referee("skill.schema.json"), data),
        "models": model_accepts(SkillMeta, data),
    }
    assert verdicts == {"jsonschema": valid, "models": valid}

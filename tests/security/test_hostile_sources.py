"""Hostile input from the system's own sources: the streams, a live agent source, a sync source.

Each is rejected with a reason naming what was wrong, and the valid work around it goes on:

- garbage on the activation streams, through the real runner handler on a real pump
  (``tests/integration/conftest.py``'s ``System``: redis-server, the mock Hub, the fake LLM);
- an agent definition broken in place in a live source (``AGENTS_DIR`` and a bucket on
  moto's HTTP server) and then invalidated, as a push or a sync does;
- skill names and paths that try to leave the definitions (``..``, absolute paths, NUL,
  backslashes, symlinks), in a definition and through ``botburrow sync --once``.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import structlog
import yaml

from shared.agents import DirectorySource, parse_config
from shared.cli import main
from shared.definitions import DefinitionVersions
from shared.errors import InvalidAgent
from shared.events import ACTIVATION_REQUESTED, Priority
from shared.settings import AgentSourceSettings, R2Settings, Secret
from shared.streams import DeadLetter, DeadLetters, Scripts, StreamKeys
from tests.integration.conftest import (  # noqa: F401  (the fixtures)
    System,
    hub_agents,
    native_agent,
    system,
)
from tests.support import FIXTURES, eventually
from tests.support.git import Repo
from tests.support.s3 import admin_client, moto_server

pytestmark = pytest.mark.slow  # make test-fast leaves it out

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NOW = datetime.now(UTC).isoformat()


def raw_event(type_: str, data: Any, *, subject: str | None = None) -> dict[bytes, bytes]:
    """Stream fields of a structured CloudEvent built by hand (no validation of ``data``)."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"hostile-{uuid.uuid4().hex[:12]}",
        "source": "/tests/hostile",
        "type": type_,
        "time": NOW,
        "datacontenttype": "application/json",
        "data": data,
    }
    if subject:
        body["subject"] = subject
    return {b"event": orjson.dumps(body), b"type": type_.encode()}


def requested(**data: Any) -> dict[str, Any]:
    return {"kind": "inbox", "priority": "normal", "requested_at": NOW, **data}


async def dead_letters(world: System) -> list[DeadLetter]:
    return await DeadLetters(world.redis, Scripts(world.redis), world.keys).entries(limit=1000)


# -- (a) malformed stream entries --------------------------------------------------


async def test_malformed_stream_entries_are_dead_lettered_with_their_reason_while_valid_mentions_are_answered_once(
    system: System,  # noqa: F811
) -> None:
    """Every malformed entry on the activation streams (no ``event`` field, not JSON, a valid
    CloudEvent of another type, an activation request whose data lacks ``agent_id``, names an
    unknown agent, has fields of the wrong type, or is megabytes long) is dead-lettered once with
    a reason naming what was wrong; the real runner handler keeps going, every valid mention
    interleaved with them is answered exactly once, and no LLM call is made for a bad entry."""
    ann = system.add_agent(native_agent("ann"))
    bea = system.add_agent(native_agent("bea"))
    normal = system.keys.activations(Priority.NORMAL)
    high = system.keys.activations(Priority.HIGH)
    low = system.keys.activations(Priority.LOW)
    bad: dict[str, tuple[str, dict[bytes, bytes]]] = {
        # what is wrong → (the stream it goes on, its fields); the key is what the reason must say
        "no 'event' field": (normal, {b"type": ACTIVATION_REQUESTED.encode(), b"subject": ann.encode()}),
        "not valid JSON": (high, {b"event": b'{"specversion": "1.0", "id": '}),
        "needs a JSON object": (low, {b"event": b'["an", "array"]'}),
        "the runner handles": (normal, raw_event("com.botburrow.ping", {"at": NOW, "window_s": 1}, subject=ann)),
        "data.agent_id": (normal, raw_event(ACTIVATION_REQUESTED, requested(agent_name="ann"), subject=ann)),
        "no agent definition named 'nobody-here'": (
            high,
            raw_event(ACTIVATION_REQUESTED, requested(agent_id="id-nobody", agent_name="nobody-here"), subject="x"),
        ),
        "no agent definition named '../../etc/passwd'": (
            normal,
            raw_event(ACTIVATION_REQUESTED, requested(agent_id=bea, agent_name="../../etc/passwd"), subject=bea),
        ),
        "data.agent_name": (
            normal,
            raw_event(ACTIVATION_REQUESTED, requested(agent_id=ann, agent_name=42), subject=ann),
        ),
        "data.kind": (
            low,
            raw_event(ACTIVATION_REQUESTED, requested(agent_id=ann, agent_name="ann", kind="everything"), subject=ann),
        ),
        "data.notification_ids": (
            normal,
            raw_event(
                ACTIVATION_REQUESTED, requested(agent_id=bea, agent_name="bea", notification_ids="n-1"), subject=bea
            ),
        ),
        "data.notification_ids.0": (
            normal,
            raw_event(
                ACTIVATION_REQUESTED, requested(agent_id=bea, agent_name="bea", notification_ids=[1, 2]), subject=bea
            ),
        ),
        "data.requested_at": (
            high,
            raw_event(
                ACTIVATION_REQUESTED,
                requested(agent_id=ann, agent_name="ann", requested_at="yesterday"),
                subject=ann,
            ),
        ),
        "data.surprise": (
            normal,
            raw_event(ACTIVATION_REQUESTED, requested(agent_id=ann, agent_name="ann", surprise=True), subject=ann),
        ),
        "missing; a ActivationRequested": (normal, raw_event(ACTIVATION_REQUESTED, None, subject=ann)),
        "huge: not valid JSON": (normal, {b"event": b'{"junk": "' + b"x" * (4 * 1024 * 1024)}),
    }
    posts = []
    for round_ in range(2):  # valid mentions before, between and after the garbage
        posts.append(system.hub.human_post("dana", f"@ann question {round_} for ann"))
        posts.append(system.hub.human_post("erin", f"@bea question {round_} for bea"))
        await system.tick()
        for i, (stream, fields) in enumerate(bad.values()):
            if i % 2 == round_:
                await system.redis.xadd(stream, fields)  # type: ignore[arg-type]
    await system.start_runner()

    async def all_dead() -> bool:
        return len(await dead_letters(system)) == len(bad)

    await eventually(all_dead, timeout_s=30)
    await eventually(lambda: len(system.replies_by("ann")) + len(system.replies_by("bea")) == len(posts))
    await eventually(system.settled, timeout_s=30)

    letters = await dead_letters(system)
    reasons = [letter.reason for letter in letters]
    for what in bad:
        expected = what.removeprefix("huge: ")
        matching = [r for r in reasons if expected in r]
        assert matching, f"no dead letter says {expected!r}: {reasons}"
    assert all(letter.count == 1 for letter in letters), "each bad entry dead-lettered once"
    huge = next(letter for letter in letters if letter.reason.startswith("malformed entry: event: not valid JSON"))
    assert huge.deliveries == 1
    answered = {c.post_id for c in system.hub.content.comments if c.author is not None}
    assert answered == {p.id for p in posts}
    for name in ("ann", "bea"):
        assert len(system.replies_by(name)) == 2, f"{name}: each mention answered exactly once"
    calls = [r for r in system.fake.requests if r.path == "/v1/messages"]
    seen = [orjson.dumps(r.body).decode() for r in calls]
    for text in seen:
        assert any(f"question {i} for" in text for i in range(2)), "an LLM call not for a valid mention"
    assert len(calls) == len(posts), "one plain answer per valid mention, none for the garbage"
    outcomes = {(e.get_data() or {}).get("outcome") for e in await system.results()}
    assert outcomes == {"replied"}, "every activation the runner completed answered a valid mention"

    # and the runner is still serving: one more mention after all that
    last = system.hub.human_post("dana", "@ann still there?")
    await system.tick()
    await eventually(lambda: any(c.post_id == last.id for c in system.replies_by("ann")))
    await eventually(system.settled)
    assert len(system.replies_by("ann")) == 3


# -- (b) a bad definition swapped into a live source -------------------------------

BUCKET_PREFIX = "live/"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def system_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A test parametrized with ``"bucket"`` loads its agents from a fresh bucket on moto."""
    if getattr(request, "param", "directory") != "bucket":
        return {}
    endpoint = request.getfixturevalue("moto_endpoint")
    name = f"live-{uuid.uuid4().hex[:10]}"
    admin_client(endpoint).create_bucket(Bucket=name)
    r2 = R2Settings(
        endpoint=endpoint,
        access_key_id=Secret("testing"),
        secret_access_key=Secret("moto-secret"),
        bucket=name,
        prefix=BUCKET_PREFIX,
    )
    return {"agents": AgentSourceSettings(r2=r2)}


@dataclass
class LiveSource:
    """The system's agent source, written to in place as a person (or a bad sync) would."""

    system: System
    admin: S3Client | None

    def write(self, name: str, file: str, text: str) -> None:
        r2 = self.system.settings.agents.r2
        if r2 is None:
            path = self.system.agents_dir / "agents" / name / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        else:
            assert self.admin is not None
            self.admin.put_object(Bucket=r2.bucket, Key=f"{r2.prefix}agents/{name}/{file}", Body=text.encode())

    def locate(self, name: str, file: str) -> str:
        r2 = self.system.settings.agents.r2
        if r2 is None:
            return str(self.system.agents_dir.resolve() / "agents" / name / file)
        return f"s3://{r2.bucket}/{r2.prefix}agents/{name}/{file}"

    def add_agent(self, config: dict[str, Any]) -> str:
        self.write(config["name"], "config.yaml", yaml.safe_dump(config))
        self.write(config["name"], "system-prompt.md", f"You are {config['name']}.")
        return self.system.hub.add_agent(config["name"]).id

    async def invalidate(self, name: str) -> None:
        """What a push webhook or a sync does for a changed agent: bump its version counter."""
        await DefinitionVersions(self.system.redis, prefix=self.system.keys.prefix).bump([name])


def replied(world: System, agent: str, posts: set[str]) -> bool:
    return posts <= {c.post_id for c in world.replies_by(agent)}


async def dead_letter_of(world: System, notification_id: str) -> DeadLetter | None:
    found = [
        d
        for d in await dead_letters(world)
        if notification_id in (d.data.get("event") or {}).get("data", {}).get("notification_ids", [])
    ]
    return found[0] if found else None


def breakages(good: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, the new config.yaml, the field the reason names, words the reason has)."""

    def changed(**fields: Any) -> str:
        return yaml.safe_dump({**good, **fields})

    huge = yaml.safe_dump(good) + ("# " + "x" * 1022 + "\n") * (3 * 1024)
    return [
        ("not YAML", "name: flaky\ntype: native\nbrain: [claude, {unclosed\n", "", "not valid YAML at line"),
        ("a wrong type", changed(behavior={"max_iterations": "many"}), "behavior.max_iterations", "integer"),
        ("an unknown type", changed(type="shell-script"), "type", "shell-script"),
        ("a name that is not its folder's", changed(name="someone-else"), "name", "must equal the agent's folder name"),
        ("a huge file", huge, "", "larger than"),
    ]


@pytest.mark.parametrize("system_overrides", ["directory", "bucket"], indirect=True)
async def test_a_definition_broken_in_a_live_source_is_refused_with_its_file_and_field_while_others_are_served(
    system: System,  # noqa: F811
    system_overrides: dict[str, Any],
) -> None:
    """An agent whose live definition (``AGENTS_DIR``, or the bucket on moto) is changed to YAML
    that does not parse, to YAML breaking schema v1 (a field of the wrong type, an unknown
    ``type``, a ``name`` not its folder's) or to a file megabytes long, and then invalidated, is
    refused, never served from its last good definition: the poller skips its new mention as
    ``invalid_agent`` and logs the file and field; an activation already queued for it is
    dead-lettered with a reason naming the file and the field; nothing is posted for it and no
    LLM call is made. Another agent's mentions are answered meanwhile, the runner keeps
    running, and once the file is fixed and invalidated again both of the broken agent's
    mentions are answered, exactly once."""
    r2 = system.settings.agents.r2
    live = LiveSource(system, admin_client(r2.endpoint) if r2 is not None else None)
    good_config = native_agent("flaky")
    flaky = live.add_agent(good_config)
    live.add_agent(native_agent("steady"))
    assert system.hub.require_agent("flaky").id == flaky
    config_file = live.locate("flaky", "config.yaml")

    for what, text, field, words in breakages(good_config):
        replies_before = len(system.replies_by("flaky"))
        calls_before = len(system.fake.requests)
        queued = system.hub.human_post("dana", f"@flaky queued before it broke ({what})")
        await system.tick()  # its activation is queued while the definition is good
        live.write("flaky", "config.yaml", text)
        await live.invalidate("flaky")
        steady_post = system.hub.human_post("dana", f"@steady are you fine ({what})?")
        later = system.hub.human_post("dana", f"@flaky asked after it broke ({what})")
        with structlog.testing.capture_logs() as logs:
            await system.tick()
        tick = system.poller.last_tick  # type: ignore[attr-defined]
        assert tick.skipped["invalid_agent"] >= 1 and not tick.skipped["unknown_agent"], (what, tick)
        refusals = [e for e in logs if e["event"] == "poller.invalid_agent"]
        assert refusals, f"{what}: the poller's refusal is not logged"
        for refusal in refusals:
            assert (refusal["agent"], refusal["field"], refusal.get("file")) == ("flaky", field, config_file), refusal

        await system.start_runner()
        await eventually(partial(replied, system, "steady", {steady_post.id}))

        [notification] = [n.id for n in system.hub.notifications if n.agent_id == flaky and n.post_id == queued.id]
        letter = await eventually(partial(dead_letter_of, system, notification), timeout_s=20)
        assert isinstance(letter, DeadLetter)
        assert f"invalid agent 'flaky': {config_file}: " in letter.reason, letter.reason
        if field:
            assert f"{config_file}: {field}: " in letter.reason, letter.reason
        assert words in letter.reason, letter.reason
        await eventually(system.settled)
        assert len(system.replies_by("flaky")) == replies_before, f"{what}: served from a broken definition"
        prompts = [orjson.dumps(r.body).decode() for r in system.fake.requests[calls_before:]]
        assert not any("You are flaky." in p for p in prompts), f"{what}: an LLM call for the broken agent"
        assert not system.pumps[-1][1].done(), "the runner is still running"

        live.write("flaky", "config.yaml", yaml.safe_dump(good_config))
        await live.invalidate("flaky")
        await system.tick()
        answered = {queued.id, later.id}
        await eventually(partial(replied, system, "flaky", answered), timeout_s=20)
        await eventually(system.settled)
        mine = [c.post_id for c in system.replies_by("flaky")]
        assert sorted(p for p in mine if p in answered) == sorted(answered), f"{what}: each mention answered once"
        await system.stop_pumps()
    assert len(system.replies_by("steady")) == len(breakages(good_config))


# -- (c) skills with a traversal path ---------------------------------------------

TRAVERSALS = ("../../etc/passwd", "/etc/passwd", "skills/../../x", "a\\..\\b", "x\0y")


def test_a_skill_named_by_a_traversal_path_is_refused_naming_it_and_nothing_is_read(tmp_path: Path) -> None:
    """A definition listing a skill by a path (``../../etc/passwd``, ``/etc/passwd``,
    ``skills/../../x``, backslashes, NUL) is invalid: ``capabilities.skills.<i>`` is the field,
    the path is in the reason, and no file is opened for it; a source asked for such a path
    refuses it by name."""
    source = DirectorySource(tmp_path)
    for i, path in enumerate(TRAVERSALS):
        config = native_agent("climber")
        config["capabilities"]["skills"] = ["hub-post", path]
        with pytest.raises(InvalidAgent) as caught:
            parse_config(yaml.safe_dump(config), name="climber", file="agents/climber/config.yaml")
        assert caught.value.field == "capabilities.skills.1", (i, caught.value)
        assert repr(path) in caught.value.problem, caught.value.problem
        with pytest.raises(ValueError, match="unsafe path") as refused:
            source.read_text(f"skills/{path}/SKILL.md")
        assert repr(f"skills/{path}/SKILL.md") in str(refused.value)


async def test_the_sync_refuses_traversals_and_symlinks_out_of_the_repository_and_syncs_the_rest(
    tmp_path: Path,
    moto_endpoint: str,
    redis_url: str,
    keys: StreamKeys,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``botburrow sync --once`` over a repository (real git) that holds an agent listing a
    traversal path as a skill, a skill whose SKILL.md is a symlink out of the repository, a
    symlinked skill folder, a symlink inside a valid agent to a secret outside, and a second
    source whose ``agents/`` itself is a symlink out of its checkout: each traversal is rejected
    with its reason naming the path, nothing outside the checkouts is read into the bucket,
    nothing is written outside the bucket's prefix, and every valid agent and skill is uploaded."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = "TOP-SECRET-OUTSIDE-THE-REPOSITORY"
    (outside / "secret.txt").write_text(secret)
    (outside / "SKILL.md").write_text(f"---\nname: linked\ndescription: {secret}\n---\n{secret}\n")
    escaped = outside / "agents" / "escapee"
    escaped.mkdir(parents=True)
    (escaped / "config.yaml").write_text(yaml.safe_dump(native_agent("escapee")))
    (escaped / "system-prompt.md").write_text(f"You are escapee. {secret}")

    repo = Repo(tmp_path / "repo")
    shutil.copytree(FIXTURES / "agent-definitions" / "agents", repo.path / "agents")
    shutil.copytree(FIXTURES / "agent-definitions" / "skills", repo.path / "skills")
    valid_agents = sorted(p.name for p in (repo.path / "agents").iterdir())
    valid_skills = sorted(p.name for p in (repo.path / "skills").iterdir())
    for i, path in enumerate(TRAVERSALS[:4]):  # (a NUL is refused above: YAML cannot hold one unescaped)
        config = native_agent(f"climber-{i}")
        config["capabilities"]["skills"] = [path]
        repo.write(f"agents/climber-{i}/config.yaml", yaml.safe_dump(config))
        repo.write(f"agents/climber-{i}/system-prompt.md", "You climb.")
    (repo.path / "skills" / "linked").mkdir()
    (repo.path / "skills" / "linked" / "SKILL.md").symlink_to(outside / "SKILL.md")
    (repo.path / "skills" / "folder-link").symlink_to(outside, target_is_directory=True)
    (repo.path / "agents" / valid_agents[0] / "notes.txt").symlink_to(outside / "secret.txt")
    repo.commit("hostile paths")
    other = Repo(tmp_path / "other")
    (other.path / "agents").symlink_to(outside / "agents", target_is_directory=True)
    other.commit("agents/ is a symlink out of the checkout")

    bucket = f"sync-{uuid.uuid4().hex[:10]}"
    admin = admin_client(moto_endpoint)
    admin.create_bucket(Bucket=bucket)
    for name, value in {
        "R2_ENDPOINT": moto_endpoint,
        "R2_ACCESS_KEY_ID": "testing",
        "R2_SECRET_ACCESS_KEY": "moto-secret",
        "R2_BUCKET": bucket,
        "R2_PREFIX": "live",
        "SYNC_SOURCES": f"{repo.path},{other.path}",
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": keys.prefix,
    }.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(main, ["sync", "--once", "--json"])
    report = orjson.loads(capsys.readouterr().out)
    assert code == 1, report

    rejected = {r["unit"]: r for r in report["rejected"]}
    for i, path in enumerate(TRAVERSALS[:4]):
        r = rejected[f"agents/climber-{i}"]
        assert r["file"] == f"agents/climber-{i}/config.yaml" and r["field"] == "capabilities.skills.0", r
        assert repr(path) in r["problem"], r
    assert rejected["skills/linked"]["file"] == "skills/linked/SKILL.md", rejected
    for unit in ("skills/folder-link", "agents"):
        assert "a symlink" in rejected[unit]["problem"] and str(outside) in rejected[unit]["problem"], rejected
    assert str(other.path) in rejected["agents"]["source"]
    pages = admin.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = {item["Key"] for page in pages for item in page.get("Contents", [])}
    assert all(k.startswith(("live/agents/", "live/skills/")) for k in keys), keys
    assert {k.split("/")[2] for k in keys if k.startswith("live/agents/")} == set(valid_agents)
    assert {k.split("/")[2] for k in keys if k.startswith("live/skills/")} == set(valid_skills)
    for key in keys:
        body = admin.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert secret not in body, f"{key} holds a file from outside the repository"

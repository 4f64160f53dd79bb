"""``botburrow sync --once``: a local git repository into a bucket on moto over HTTP, validated, idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from shared.agents import AgentStore, S3Source, s3_client
from shared.cli import main
from shared.definitions import ALL
from shared.streams import Redis, StreamKeys
from tests.support.git import Repo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BROKEN_SKILL = """---
name: broken-skill
version: 1.0.0
---
# A skill that forgot to say what it is for
"""


def keys_in(admin: S3Client, bucket: str) -> set[str]:
    pages = admin.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def read(admin: S3Client, bucket: str, key: str) -> str:
    return admin.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, bucket: str, redis_url: str, keys: StreamKeys
) -> Callable[..., None]:
    def setenv(**env: str) -> None:
        base = {
            "R2_ENDPOINT": moto_endpoint,
            "R2_ACCESS_KEY_ID": "testing",
            "R2_SECRET_ACCESS_KEY": "r2-secret-never-printed",
            "R2_BUCKET": bucket,
            "R2_PREFIX": "live",
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": keys.prefix,
            **env,
        }
        for name, value in base.items():
            monkeypatch.setenv(name, value)

    return setenv


async def sync(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = await asyncio.to_thread(main, ["sync", "--once", "--json", *extra])
    out = capsys.readouterr().out
    return code, orjson.loads(out)


async def synced(
    repo: Repo, environment: Callable[..., None], admin: S3Client, bucket: str, capsys: pytest.CaptureFixture[str]
) -> set[str]:
    """Sync ``repo`` once, successfully; the keys the bucket then holds."""
    environment(SYNC_SOURCES=str(repo.path))
    assert (await sync(capsys))[0] == 0
    return keys_in(admin, bucket)


async def test_a_change_an_invalid_skill_and_a_deletion(
    repo: Repo,
    environment: Any,
    admin: S3Client,
    bucket: str,
    moto_endpoint: str,
    redis: Redis,
    keys: StreamKeys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment(SYNC_SOURCES=f"file://{repo.path}@main")
    versions_key = f"{keys.prefix}:agents:versions"

    code, first = await sync(capsys)
    assert code == 0, first
    in_repo = {f"live/{p.relative_to(repo.path).as_posix()}" for p in repo.path.rglob("*") if p.is_file()}
    in_repo = {k for k in in_repo if k.startswith(("live/agents/", "live/skills/"))}
    assert keys_in(admin, bucket) == in_repo, "agents/ and skills/, nothing else (no README, no .git)"
    assert first["deleted"] == [] and first["rejected"] == []
    assert first["invalidated"]["all"] is True, "a first sync brings skills: every agent reloads"
    assert await redis.hgetall(versions_key) == {ALL.encode(): b"1"}

    repo.write("agents/sprint-coder/system-prompt.md", "You are Sprint, who ships on Fridays.\n")
    repo.write("skills/broken-skill/SKILL.md", BROKEN_SKILL)
    repo.run("rm", "-r", "--quiet", "agents/claude-coder-1")
    repo.commit("a new prompt, a broken skill, one agent retired")

    code, second = await sync(capsys)
    assert code == 1, "a rejected definition makes the run fail"
    assert second["uploaded"] == ["agents/sprint-coder/system-prompt.md"]
    assert second["deleted"] == ["agents/claude-coder-1/config.yaml", "agents/claude-coder-1/system-prompt.md"]
    [rejected] = second["rejected"]
    assert rejected["unit"] == "skills/broken-skill"
    assert rejected["file"] == "skills/broken-skill/SKILL.md" and rejected["field"] == "description"
    assert "required" in rejected["problem"] and str(repo.path) in rejected["source"]
    assert second["invalidated"] == {
        "all": False,
        "agents": ["claude-coder-1", "sprint-coder"],
        "reason": "synced",
    }, "exactly the agents changed or deleted, not all: the only skill change was refused"
    present = keys_in(admin, bucket)
    assert read(admin, bucket, "live/agents/sprint-coder/system-prompt.md") == "You are Sprint, who ships on Fridays.\n"
    assert not any(k.startswith("live/skills/broken-skill/") for k in present)
    assert not any(k.startswith("live/agents/claude-coder-1/") for k in present)
    assert await redis.hgetall(versions_key) == {ALL.encode(): b"1", b"claude-coder-1": b"1", b"sprint-coder": b"1"}

    code, third = await sync(capsys)
    assert code == 1 and [r["unit"] for r in third["rejected"]] == ["skills/broken-skill"]
    assert third["uploaded"] == [] and third["deleted"] == []
    assert third["invalidated"]["agents"] == [] and third["invalidated"]["all"] is False
    assert len(third["unchanged"]) == len(present)
    assert await redis.hgetall(versions_key) == {ALL.encode(): b"1", b"claude-coder-1": b"1", b"sprint-coder": b"1"}

    # what the runners read from the bucket is what was synced
    client = s3_client(endpoint_url=moto_endpoint, access_key_id="testing", secret_access_key="x")
    report = await AgentStore(S3Source(bucket=bucket, prefix="live", client=client)).load_all()
    assert report.ok and sorted(report.agents) == ["devops-agent", "sprint-coder", "test-persona-agent"]
    assert report.agents["sprint-coder"].system_prompt == "You are Sprint, who ships on Fridays.\n"


async def test_the_text_report_names_file_and_field(
    repo: Repo, environment: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("skills/broken-skill/SKILL.md", BROKEN_SKILL)
    repo.commit("a broken skill")
    environment(SYNC_SOURCES=str(repo.path))
    code = await asyncio.to_thread(main, ["sync", "--once"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert "uploaded   agents/sprint-coder/config.yaml" in lines
    [rejected] = [line for line in lines if line.startswith("rejected")]
    assert "skills/broken-skill/SKILL.md: description: required, but missing" in rejected
    assert lines[-1].startswith("11 uploaded, 0 deleted, 0 unchanged, 1 rejected; invalidated: all agents")
    assert "r2-secret-never-printed" not in out


async def test_a_source_that_cannot_be_fetched_changes_nothing(
    repo: Repo, environment: Any, admin: S3Client, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await synced(repo, environment, admin, bucket, capsys)
    environment(SYNC_SOURCES=f"{repo.path},{tmp_path / 'no-such-repo'}")
    code = await asyncio.to_thread(main, ["sync", "--once"])
    captured = capsys.readouterr()
    assert code == 2
    assert "no-such-repo" in captured.err and "git fetch failed" in captured.err
    assert keys_in(admin, bucket) == before, "a source that is down is not a source that deleted everything"


async def test_sources_that_hold_nothing_never_empty_the_bucket(
    repo: Repo, environment: Any, admin: S3Client, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await synced(repo, environment, admin, bucket, capsys)
    empty = Repo(tmp_path / "empty")
    empty.write("README.md", "nothing here yet\n")
    empty.commit("empty")
    environment(SYNC_SOURCES=str(empty.path))
    code = await asyncio.to_thread(main, ["sync", "--once"])
    assert code == 2 and "refusing to empty the bucket" in capsys.readouterr().err
    assert keys_in(admin, bucket) == before


async def test_a_ref_picks_what_is_synced_and_the_first_source_wins(
    repo: Repo,
    environment: Any,
    admin: S3Client,
    bucket: str,
    tmp_path: Path,
    definitions: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo.run("tag", "v1")
    repo.write("agents/sprint-coder/system-prompt.md", "after v1\n")
    repo.commit("after the tag")
    other = Repo(tmp_path / "other")
    other.write("agents/sprint-coder/config.yaml", (repo.path / "agents/sprint-coder/config.yaml").read_text())
    other.write("agents/sprint-coder/system-prompt.md", "from the other repository\n")
    other.commit("a second sprint-coder")
    environment(SYNC_SOURCES=f"{repo.path}@v1, file://{other.path}")
    code, report = await sync(capsys)
    assert code == 0, report
    tagged = (definitions / "agents" / "sprint-coder" / "system-prompt.md").read_text()
    assert read(admin, bucket, "live/agents/sprint-coder/system-prompt.md") == tagged, "v1's, from the first source"


async def test_without_sources_or_bucket_the_sync_says_what_to_set(
    environment: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment()
    assert await asyncio.to_thread(main, ["sync", "--once"]) == 2
    assert "set SYNC_SOURCES" in capsys.readouterr().err
    environment(SYNC_SOURCES="github:botburrow/agent-definitions")
    for name in ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET"):
        monkeypatch.delenv(name)
    assert await asyncio.to_thread(main, ["sync", "--once"]) == 2
    assert "set R2_ENDPOINT" in capsys.readouterr().err


async def test_a_rejected_agent_keeps_its_last_good_version_in_the_bucket(
    repo: Repo,
    environment: Callable[..., None],
    admin: S3Client,
    bucket: str,
    redis: Redis,
    keys: StreamKeys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = await synced(repo, environment, admin, bucket, capsys)
    good = read(admin, bucket, "live/agents/devops-agent/config.yaml")
    config = repo.path / "agents" / "devops-agent" / "config.yaml"
    config.write_text(config.read_text().replace("cache_ttl: 60", "cache_ttl: 5"))
    assert "cache_ttl: 5\n" in config.read_text()
    repo.write("agents/devops-agent/system-prompt.md", "A new prompt that must not go in with a broken config.\n")
    repo.commit("cache_ttl below the schema's minimum")
    versions = await redis.hgetall(f"{keys.prefix}:agents:versions")

    code, report = await sync(capsys)
    assert code == 1
    [rejected] = report["rejected"]
    assert rejected["unit"] == "agents/devops-agent"
    assert (rejected["file"], rejected["field"]) == ("agents/devops-agent/config.yaml", "cache_ttl")
    assert report["uploaded"] == [] and report["deleted"] == [], "neither the broken config nor its new prompt"
    assert keys_in(admin, bucket) == before
    assert read(admin, bucket, "live/agents/devops-agent/config.yaml") == good
    assert await redis.hgetall(f"{keys.prefix}:agents:versions") == versions, "nothing changed: nobody reloads"

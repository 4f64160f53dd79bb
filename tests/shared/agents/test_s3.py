"""Agent definitions from an S3-compatible bucket: moto in server mode, over HTTP on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from shared.agents import AgentStore, DirectorySource, S3Source, s3_client
from shared.errors import AgentNotFound, ConfigurationError, TransientError
from tests.shared.agents.conftest import DEFINITIONS, INVALID, VALID_NAMES
from tests.support import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("fixtures")

SECRET = "s3cr3t-never-logged"


def upload(admin: S3Client, bucket: str, prefix: str, root: Path, under: str) -> None:
    """Upload every file below ``root`` to ``<prefix><under>/<relative path>``."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        admin.put_object(
            Bucket=bucket, Key=f"{prefix}{under}/{path.relative_to(root).as_posix()}", Body=path.read_bytes()
        )


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str, fixtures: Path) -> Iterator[str]:
    """A bucket holding the fixtures: ``defs/`` (a checkout), ``broken/`` (invalid), ``mix/`` (both)."""
    admin = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    name = f"agent-defs-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=name)
    for prefix in ("defs/", "mix/"):
        upload(admin, name, prefix, DEFINITIONS / "agents", "agents")
        upload(admin, name, prefix, DEFINITIONS / "skills", "skills")
    upload(admin, name, "defs/", DEFINITIONS / "templates", "templates")
    upload(admin, name, "broken/", INVALID, "agents")
    upload(admin, name, "mix/", INVALID / "simple-bot", "agents/simple-bot")
    admin.put_object(Bucket=name, Key="defs/agents/.hidden/config.yaml", Body=b"name: hidden")
    admin.put_object(Bucket=name, Key="defs/agents/no-config/system-prompt.md", Body=b"hello")
    yield name


def source(endpoint: str, bucket: str, prefix: str, *, max_attempts: int = 3) -> S3Source:
    client = s3_client(
        endpoint_url=endpoint,
        access_key_id="testing",
        secret_access_key=SECRET,
        max_attempts=max_attempts,
        connect_timeout_s=1.0,
    )
    return S3Source(bucket=bucket, prefix=prefix, client=client)


async def test_every_fixture_agent_loads_from_the_bucket_as_from_the_directory(moto_endpoint: str, bucket: str) -> None:
    s3 = source(moto_endpoint, bucket, "defs")
    assert s3.agent_names() == VALID_NAMES
    from_bucket = await AgentStore(s3).load_all()
    from_directory = await AgentStore(DirectorySource(DEFINITIONS)).load_all()
    assert from_bucket.invalid == []
    assert sorted(from_bucket.agents) == VALID_NAMES
    for name in VALID_NAMES:
        here, there = from_bucket.agents[name], from_directory.agents[name]
        assert here.config == there.config
        assert here.system_prompt == there.system_prompt
        assert [(s.meta, s.body) for s in here.skills] == [(s.meta, s.body) for s in there.skills]
        assert here.missing_skills == ()
        assert here.origin == f"s3://{bucket}/defs/agents/{name}"
        assert [s.origin for s in here.skills] == [
            f"s3://{bucket}/defs/skills/{s}/SKILL.md" for s in here.config.capabilities.skills
        ]


@pytest.mark.parametrize("name", VALID_NAMES)
async def test_get_each_agent_with_defaults_applied(moto_endpoint: str, bucket: str, name: str) -> None:
    agent = await AgentStore(source(moto_endpoint, bucket, "defs/")).get(name)
    assert agent.name == name
    assert agent.system_prompt == (DEFINITIONS / "agents" / name / "system-prompt.md").read_text()
    assert agent.config.memory.max_size_mb in {100, 200}
    if name == "sprint-coder":
        assert agent.config.brain.provider == "openai"
        assert agent.config.behavior.discovery.min_confidence == 0.7  # absent from the file
        assert agent.config.capabilities.spawning.can_propose is False  # absent from the file


async def test_invalid_agents_in_the_bucket_name_the_key_and_field(moto_endpoint: str, bucket: str) -> None:
    report = await AgentStore(source(moto_endpoint, bucket, "broken")).load_all()
    assert report.agents == {}
    found = {e.name: (e.file, e.field) for e in report.invalid}
    assert found == {
        "claude-coder-1": (f"s3://{bucket}/broken/agents/claude-coder-1/config.yaml", "brain.top_p"),
        "simple-bot": (f"s3://{bucket}/broken/agents/simple-bot/config.yaml", "capabilities"),
    }


async def test_a_mixed_bucket_loads_the_valid_ones(moto_endpoint: str, bucket: str) -> None:
    report = await AgentStore(source(moto_endpoint, bucket, "mix")).load_all()
    assert sorted(report.agents) == VALID_NAMES
    assert [(e.name, e.field) for e in report.invalid] == [("simple-bot", "capabilities")]


async def test_a_missing_agent_is_not_found(moto_endpoint: str, bucket: str) -> None:
    with pytest.raises(AgentNotFound):
        await AgentStore(source(moto_endpoint, bucket, "defs")).get("nobody-here")


async def test_a_bucket_that_does_not_exist_is_a_configuration_error(moto_endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="NoSuchBucket"):
        await AgentStore(source(moto_endpoint, "no-such-bucket", "")).get("sprint-coder")
    with pytest.raises(ConfigurationError, match="NoSuchBucket"):
        await AgentStore(source(moto_endpoint, "no-such-bucket", "")).load_all()


async def test_an_unreachable_endpoint_is_transient() -> None:
    s3 = source(f"http://127.0.0.1:{free_port()}", "agent-defs", "", max_attempts=1)
    with pytest.raises(TransientError, match="EndpointConnectionError"):
        await AgentStore(s3).get("sprint-coder")


def test_keys_stay_under_the_prefix(moto_endpoint: str, bucket: str) -> None:
    s3 = source(moto_endpoint, bucket, "defs")
    assert s3.locate("agents/x/config.yaml") == f"s3://{bucket}/defs/agents/x/config.yaml"
    for path in ("agents/../../secrets", "/agents/x", "agents//x"):
        with pytest.raises(ValueError, match="unsafe path"):
            s3.read_text(path)


async def test_the_secret_shows_nowhere(moto_endpoint: str, bucket: str) -> None:
    s3 = source(moto_endpoint, bucket, "mix")
    report = await AgentStore(s3).load_all()
    with pytest.raises(ConfigurationError) as caught:
        await AgentStore(source(moto_endpoint, "no-such-bucket", "")).get("sprint-coder")
    shown = [repr(s3), str(caught.value), *(str(e) for e in report.invalid)]
    shown += [a.origin for a in report.agents.values()]
    assert not [text for text in shown if SECRET in text]

"""Version counters in Redis: every AgentStore that follows them reloads on a bump, whatever its cache_ttl."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis as sync_redis
import yaml

from shared.agents import AgentStore, DirectorySource
from shared.definitions import ALL, DefinitionVersions
from shared.errors import StreamUnavailable
from shared.streams import Redis, StreamKeys, connect
from tests.support import free_port


def write_agent(root: Path, name: str, prompt: str) -> None:
    folder = root / "agents" / name
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "name": name,
        "type": "native",
        "brain": {"provider": "anthropic", "model": "claude-haiku-4-5"},
        "capabilities": {"grants": ["hub:read"]},
        "cache_ttl": 3600,  # an hour: only the versions can make a store reload within a test
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "system-prompt.md").write_text(prompt)


@pytest.fixture
async def second_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A connection of its own: the other process's."""
    other = connect(redis_url)
    yield other
    await other.aclose()


async def test_a_bump_reaches_every_store_on_its_next_get(
    tmp_path: Path, redis: Redis, second_redis: Redis, keys: StreamKeys
) -> None:
    write_agent(tmp_path, "nova", "You are Nova, first of her name.")
    write_agent(tmp_path, "orion", "You are Orion.")
    runner_a = AgentStore(DirectorySource(tmp_path), versions=DefinitionVersions(redis, prefix=keys.prefix))
    runner_b = AgentStore(DirectorySource(tmp_path), versions=DefinitionVersions(second_redis, prefix=keys.prefix))
    for store in (runner_a, runner_b):
        assert (await store.get("nova")).system_prompt == "You are Nova, first of her name."
        assert (await store.get("orion")).system_prompt == "You are Orion."

    write_agent(tmp_path, "nova", "You are Nova, second of her name.")
    write_agent(tmp_path, "orion", "You are Orion, changed.")
    for store in (runner_a, runner_b):  # cached for an hour: nobody said anything changed
        assert (await store.get("nova")).system_prompt == "You are Nova, first of her name."

    await DefinitionVersions(redis, prefix=keys.prefix).bump(["nova"])
    for store in (runner_a, runner_b):
        assert (await store.get("nova")).system_prompt == "You are Nova, second of her name."
        assert (await store.get("orion")).system_prompt == "You are Orion.", "only the named agent reloads"

    await DefinitionVersions(second_redis, prefix=keys.prefix).bump(everything=True)
    for store in (runner_a, runner_b):
        assert (await store.get("orion")).system_prompt == "You are Orion, changed."
    assert await redis.hgetall(f"{keys.prefix}:agents:versions") == {b"nova": b"1", ALL.encode(): b"1"}


async def test_a_store_that_starts_after_a_bump_loads_once_and_then_serves_from_cache(
    tmp_path: Path, redis: Redis, keys: StreamKeys
) -> None:
    versions = DefinitionVersions(redis, prefix=keys.prefix)
    await versions.bump(["nova"], everything=True)
    write_agent(tmp_path, "nova", "v1")
    store = AgentStore(DirectorySource(tmp_path), versions=versions)
    assert (await store.get("nova")).system_prompt == "v1"
    write_agent(tmp_path, "nova", "v2")
    assert (await store.get("nova")).system_prompt == "v1", "an old bump is no reason to reload"
    await versions.bump(["orion"])
    assert (await store.get("nova")).system_prompt == "v1", "another agent's bump is none either"
    await versions.bump(["nova"])
    assert (await store.get("nova")).system_prompt == "v2"


async def test_a_bump_during_a_load_is_not_lost(tmp_path: Path, redis_url: str, redis: Redis, keys: StreamKeys) -> None:
    """A definition read before a bump must not be served as if read after it."""
    write_agent(tmp_path, "nova", "v1")
    versions = DefinitionVersions(redis, prefix=keys.prefix)

    class BumpedMidLoad(DirectorySource):
        """The prompt is read, then the file changes and the webhook bumps, before the load finishes."""

        bumped = False

        def read_text(self, path: str) -> str | None:
            text = super().read_text(path)
            if path.endswith("system-prompt.md") and not BumpedMidLoad.bumped:
                BumpedMidLoad.bumped = True
                write_agent(tmp_path, "nova", "v2")
                with sync_redis.Redis.from_url(redis_url) as other_process:  # we are on the load's thread
                    other_process.hincrby(versions.key, "nova", 1)
            return text

    store = AgentStore(BumpedMidLoad(tmp_path), versions=versions)
    assert (await store.get("nova")).system_prompt == "v1"
    assert BumpedMidLoad.bumped
    assert (await store.get("nova")).system_prompt == "v2", "no second bump needed"


async def test_without_redis_the_store_serves_from_cache(tmp_path: Path) -> None:
    write_agent(tmp_path, "nova", "v1")
    unreachable = connect(f"redis://127.0.0.1:{free_port()}/0")
    versions = DefinitionVersions(unreachable, prefix="nowhere")
    with pytest.raises(StreamUnavailable):
        await versions.read("nova")
    store = AgentStore(DirectorySource(tmp_path), versions=versions)
    assert (await store.get("nova")).system_prompt == "v1"
    write_agent(tmp_path, "nova", "v2")
    assert (await store.get("nova")).system_prompt == "v1", "cache_ttl still rules"
    await unreachable.aclose()


async def test_a_store_without_versions_needs_no_redis(tmp_path: Path) -> None:
    write_agent(tmp_path, "nova", "v1")
    store = AgentStore(DirectorySource(tmp_path))
    assert store.versions is None
    assert (await store.get("nova")).system_prompt == "v1"


async def test_many_agents_follow_the_versions_with_one_read(tmp_path: Path, redis: Redis, keys: StreamKeys) -> None:
    for name, prompt in (("nova", "v1"), ("orion", "v1"), ("vega", "v1")):
        write_agent(tmp_path, name, prompt)
    versions = DefinitionVersions(redis, prefix=keys.prefix)
    await versions.bump(["orion"])
    assert await versions.read_many(["nova", "orion"]) == ([0, 1], 0)
    store = AgentStore(DirectorySource(tmp_path), versions=versions)
    hmgets = await hmget_calls(redis)
    first = await store.get_many(["nova", "orion", "Not_A_Name", "ghost", "vega"])
    assert await hmget_calls(redis) == hmgets + 1, "one read of the versions for all of them"
    assert [getattr(d, "system_prompt", type(d).__name__) for d in first] == [
        "v1",
        "v1",
        "AgentNotFound",
        "AgentNotFound",
        "v1",
    ]

    for name in ("nova", "orion", "vega"):
        write_agent(tmp_path, name, "v2")
    await versions.bump(["vega"])
    again = await store.get_many(["nova", "orion", "vega"])
    assert [getattr(d, "system_prompt", None) for d in again] == ["v1", "v1", "v2"], "only the bumped reloads"
    await versions.bump(everything=True)
    assert [getattr(d, "system_prompt", None) for d in await store.get_many(["nova", "vega"])] == ["v2", "v2"]


async def hmget_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))

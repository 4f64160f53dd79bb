"""``AgentStore``: per-agent cache for ``cache_ttl``, invalidation, invalid agents remembered briefly."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from shared.agents import AgentStore, DirectorySource
from shared.errors import AgentNotFound, InvalidAgent, TransientError
from tests.shared.agents.conftest import DEFINITIONS, INVALID
from tests.support import Clock

pytestmark = pytest.mark.usefixtures("fixtures")


class Counting:
    """A directory source that counts reads per logical path (and can hold them back)."""

    def __init__(self, root: Path) -> None:
        self.inner = DirectorySource(root)
        self.reads: Counter[str] = Counter()
        self.gate: threading.Event | None = None
        self.reading = threading.Event()

    def agent_names(self) -> list[str]:
        return self.inner.agent_names()

    def read_text(self, path: str) -> str | None:
        self.reads[path] += 1
        self.reading.set()
        if self.gate is not None:
            self.gate.wait(5)
        return self.inner.read_text(path)

    def locate(self, path: str) -> str:
        return self.inner.locate(path)

    def configs(self, name: str) -> int:
        return self.reads[f"agents/{name}/config.yaml"]


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    shutil.copytree(DEFINITIONS, tmp_path / "defs")
    return tmp_path / "defs"


def make(root: Path) -> tuple[AgentStore, Counting, Clock]:
    source, clock = Counting(root), Clock(1000.0)
    return AgentStore(source, clock=clock), source, clock


async def test_served_from_cache_within_its_own_ttl_then_reloaded(defs: Path) -> None:
    store, source, clock = make(defs)
    first = await store.get("claude-coder-1")  # cache_ttl: 180
    assert first.cache_ttl_s == 180
    clock.now += 179.9
    assert await store.get("claude-coder-1") is first
    assert source.configs("claude-coder-1") == 1
    assert source.reads["agents/claude-coder-1/system-prompt.md"] == 1
    assert source.reads["skills/hub-post/SKILL.md"] == 1
    clock.now += 0.1
    again = await store.get("claude-coder-1")
    assert again is not first and again == first
    assert source.configs("claude-coder-1") == 2


async def test_each_agent_keeps_its_own_ttl(defs: Path) -> None:
    store, source, clock = make(defs)
    await store.get("devops-agent")  # cache_ttl: 60
    await store.get("sprint-coder")  # cache_ttl: 300
    clock.now += 61
    await store.get("devops-agent")
    await store.get("sprint-coder")
    assert (source.configs("devops-agent"), source.configs("sprint-coder")) == (2, 1)


async def test_a_change_shows_after_the_ttl(defs: Path) -> None:
    store, _, clock = make(defs)
    assert (await store.get("devops-agent")).config.behavior.max_iterations == 15
    config = defs / "agents" / "devops-agent" / "config.yaml"
    config.write_text(config.read_text().replace("max_iterations: 15", "max_iterations: 7"))
    assert (await store.get("devops-agent")).config.behavior.max_iterations == 15
    clock.now += 60
    assert (await store.get("devops-agent")).config.behavior.max_iterations == 7


async def test_invalidate_one_agent_or_all(defs: Path) -> None:
    store, source, _ = make(defs)
    for name in ("devops-agent", "sprint-coder"):
        await store.get(name)
    store.invalidate("devops-agent")
    for name in ("devops-agent", "sprint-coder"):
        await store.get(name)
    assert (source.configs("devops-agent"), source.configs("sprint-coder")) == (2, 1)
    store.invalidate()
    for name in ("devops-agent", "sprint-coder"):
        await store.get(name)
    assert (source.configs("devops-agent"), source.configs("sprint-coder")) == (3, 2)


async def test_an_invalid_agent_is_remembered_briefly(tmp_path: Path) -> None:
    shutil.copytree(INVALID, tmp_path / "defs")
    source, clock = Counting(tmp_path / "defs"), Clock(1000.0)
    store = AgentStore(source, clock=clock, retry_invalid_after_s=30)
    with pytest.raises(InvalidAgent) as first:
        await store.get("simple-bot")
    with pytest.raises(InvalidAgent) as second:
        await store.get("simple-bot")
    assert second.value is not first.value, "a fresh exception each time"
    assert (second.value.file, second.value.field, second.value.problem) == (
        first.value.file,
        first.value.field,
        first.value.problem,
    )
    assert source.configs("simple-bot") == 1
    clock.now += 30
    with pytest.raises(InvalidAgent):
        await store.get("simple-bot")
    assert source.configs("simple-bot") == 2


async def test_a_fixed_agent_loads_after_invalidate(tmp_path: Path) -> None:
    shutil.copytree(INVALID, tmp_path / "defs")
    store, _, _ = make(tmp_path / "defs")
    with pytest.raises(InvalidAgent):
        await store.get("simple-bot")
    config = tmp_path / "defs" / "simple-bot" / "config.yaml"
    notifications = "  notifications:\n    respond_to_mentions: true\n    respond_to_replies: true\n    respond_to_dms"
    text = config.read_text()
    assert notifications in text
    config.write_text(text.replace(notifications, "  respond_to_dms") + "capabilities: {}\n")
    store.invalidate("simple-bot")
    agent = await store.get("simple-bot")
    assert agent.config.behavior.respond_to_dms is False
    assert agent.config.behavior.limits.max_daily_posts == 5


async def test_an_unknown_agent_is_remembered_until_invalidated(defs: Path) -> None:
    store, source, _ = make(defs)
    for _ in range(2):
        with pytest.raises(AgentNotFound):
            await store.get("new-agent")
    assert source.configs("new-agent") == 1
    shutil.copytree(defs / "agents" / "sprint-coder", defs / "agents" / "new-agent")
    config = defs / "agents" / "new-agent" / "config.yaml"
    config.write_text(config.read_text().replace("name: sprint-coder", "name: new-agent"))
    store.invalidate("new-agent")
    assert (await store.get("new-agent")).name == "new-agent"


async def test_concurrent_gets_share_one_load(defs: Path) -> None:
    store, source, _ = make(defs)
    agents = await asyncio.gather(*(store.get("sprint-coder") for _ in range(5)))
    assert all(a is agents[0] for a in agents)
    assert source.configs("sprint-coder") == 1


async def test_a_load_overtaken_by_invalidate_is_not_cached(defs: Path) -> None:
    store, source, _ = make(defs)
    source.gate = threading.Event()
    pending = asyncio.create_task(store.get("sprint-coder"))
    await asyncio.to_thread(source.reading.wait, 5)
    store.invalidate("sprint-coder")
    source.gate.set()
    await pending
    await store.get("sprint-coder")
    assert source.configs("sprint-coder") == 2


async def test_load_all_fills_the_cache(defs: Path) -> None:
    store, source, _ = make(defs)
    report = await store.load_all()
    assert len(report.agents) == 4
    for name in report.agents:
        assert await store.get(name) is report.agents[name]
        assert source.configs(name) == 1


class Generated:
    """A source of ``count`` minimal agents, generated in memory."""

    def __init__(self, count: int) -> None:
        self.names = [f"gen-{i:05d}" for i in range(count)]
        self.reads: Counter[str] = Counter()

    def agent_names(self) -> list[str]:
        return list(self.names)

    def read_text(self, path: str) -> str | None:
        _, name, file = path.split("/")
        if name not in self.names:
            return None
        self.reads[name] += file == "config.yaml"
        config = f"name: {name}\ntype: native\nbrain:\n  model: m\ncapabilities: {{}}\n"
        return config if file == "config.yaml" else "You are a test."

    def locate(self, path: str) -> str:
        return f"mem://{path}"


async def test_a_cache_of_thousands_keeps_the_fresh_and_drops_the_expired() -> None:
    """Past 1,024 entries the cache is pruned of expired ones only, and not at every insertion
    (which made loading a fleet of 100,000 agents quadratic)."""
    source, clock = Generated(3000), Clock(1000.0)
    store = AgentStore(source, clock=clock)
    for name in source.names[:2000]:
        await store.get(name)
    for name in source.names[:2000]:
        await store.get(name)
    assert sum(source.reads.values()) == 2000, "every fresh definition served from cache"

    clock.advance(301)  # past the default cache_ttl of every definition loaded so far
    for name in source.names[2000:]:
        await store.get(name)
    assert len(store._entries) <= 2048, "the expired were pruned"
    await store.get(source.names[2999])
    assert source.reads[source.names[2999]] == 1
    await store.get(source.names[0])
    assert source.reads[source.names[0]] == 2, "an expired definition is read again"


class Unbumped:
    """Versions nobody ever bumped (``DefinitionVersions`` over an empty hash)."""

    async def read(self, name: str) -> tuple[int, int]:
        return 0, 0

    async def read_many(self, names: Sequence[str]) -> tuple[list[int], int]:
        return [0] * len(names), 0


async def test_following_versions_a_cache_of_thousands_is_still_a_cache() -> None:
    """Past 1,024 names the versions seen were pruned of the name being followed, before its load:
    its next get took the version for a bump and read it again, and every get after that too."""
    source = Generated(1500)
    store = AgentStore(source, versions=Unbumped())
    for _ in range(3):
        for name in source.names:
            await store.get(name)
    assert sum(source.reads.values()) == 1500, "each read once"


async def test_get_many_answers_in_order_with_each_failure_in_its_place() -> None:
    source = Generated(3)
    store = AgentStore(source, versions=Unbumped())
    found = await store.get_many(["gen-00002", "Bad_Name", "gen-00000", "gen-99999", "gen-00002"])
    assert [type(d).__name__ if isinstance(d, AgentNotFound) else d.name for d in found] == [
        "gen-00002",
        "AgentNotFound",
        "gen-00000",
        "AgentNotFound",
        "gen-00002",
    ]
    assert found[0] is found[4] and source.reads["gen-00002"] == 1


class Flaky(Generated):
    """Generated agents, one of them invalid and one whose reads fail until ``healed``."""

    healed = False

    def read_text(self, path: str) -> str | None:
        if "/gen-00001/" in path and not self.healed:
            raise TransientError("the bucket is away")
        if path == "agents/gen-00002/config.yaml":
            self.reads["gen-00002"] += 1
            return "name: gen-00002\ntype: native\nbrain: {}\ncapabilities: {}\n"  # no model
        return super().read_text(path)


async def test_get_many_reads_what_it_lacks_together_and_caches_only_what_a_get_would() -> None:
    source = Flaky(4)
    store = AgentStore(source, versions=Unbumped())
    with pytest.raises(TransientError):
        await store.get_many(source.names)
    source.healed = True
    found = await store.get_many(source.names)
    assert [type(d).__name__ for d in found] == [
        "AgentDefinition",
        "AgentDefinition",
        "InvalidAgent",
        "AgentDefinition",
    ]
    assert source.reads == Counter({"gen-00000": 1, "gen-00001": 1, "gen-00002": 1, "gen-00003": 1}), (
        "the failed read was not cached, the invalid one was"
    )
    with pytest.raises(InvalidAgent):
        await store.get("gen-00002")
    assert source.reads["gen-00002"] == 1

"""``AgentStore``: agent definitions loaded on demand and cached per agent.

A valid definition is served from cache for its own ``cache_ttl`` seconds. A failed
load (``InvalidAgent``, ``AgentNotFound``) is remembered for ``retry_invalid_after_s``
(30 s, the schema's smallest ``cache_ttl``), so a stream of events for a broken agent
does not re-read the bucket for every one, while a fix shows within seconds (or at
once, with ``invalidate``). Source failures (``TransientError``,
``ConfigurationError``) are not cached. Concurrent ``get`` calls for one agent share a
single load.

With ``versions`` (``shared.definitions.DefinitionVersions``: a Redis hash every process
reads), each ``get`` first asks for the agent's version and the version of "all": when
either moved since this store last looked, the cached definition is dropped and read
again, so one bump reaches every process on its next load, whatever its ``cache_ttl``.
A process that was down or busy cannot miss it. When the versions cannot be read the
store serves from its cache as before (``cache_ttl`` still bounds how stale it gets).
``get_many`` serves many agents with one such read for all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from shared.errors import AgentNotFound, ConfigurationError, InvalidAgent, TransientError

from ._loader import AgentDefinition, load_agent
from ._names import NAME_RULE, is_agent_name
from ._report import LoadReport
from ._sources import DirectorySource, Source

log = structlog.get_logger(__name__)

_PRUNE_ABOVE = 1024
_UNSEEN = object()


class Versions(Protocol):
    """Where a store learns that definitions changed (``shared.definitions.DefinitionVersions``)."""

    async def read(self, name: str) -> tuple[Hashable, Hashable]:
        """The current version of agent ``name`` and of "all agents", in one round trip.

        Raises:
            TransientError: the versions could not be read.
        """
        ...

    async def read_many(self, names: Sequence[str]) -> tuple[Sequence[Hashable], Hashable]:
        """The current versions of agents ``names`` (in order) and of "all agents", in one round trip.

        Raises:
            TransientError: the versions could not be read.
        """
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    expires_at: float
    definition: AgentDefinition | None = None
    error: InvalidAgent | AgentNotFound | None = None

    def unwrap(self) -> AgentDefinition:
        if self.definition is not None:
            return self.definition
        # a fresh exception each time: re-raising one instance would grow its traceback
        if isinstance(self.error, InvalidAgent):
            e = self.error
            raise InvalidAgent(e.name, file=e.file, field=e.field, problem=e.problem)
        assert self.error is not None
        raise AgentNotFound(self.error.name)


class AgentStore:
    """Agent definitions from one ``Source``, cached per agent."""

    def __init__(
        self,
        source: Source,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_invalid_after_s: float = 30.0,
        versions: Versions | None = None,
    ) -> None:
        """Serve agents from ``source``; ``versions`` (optional) invalidates across processes."""
        self.source = source
        self.versions = versions
        self._clock = clock
        self._retry_invalid_after_s = retry_invalid_after_s
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Task[AgentDefinition]] = {}
        self._generation: dict[str, int] = {}
        self._epoch = 0
        self._seen_all: object = _UNSEEN
        self._seen: dict[str, object] = {}
        # Prune when a map has doubled since its last prune, so pruning stays linear in total
        # however many agents are cached (pruning at every insertion past a fixed size was quadratic).
        self._prune_entries_above = _PRUNE_ABOVE
        self._prune_seen_above = _PRUNE_ABOVE

    async def get(self, name: str) -> AgentDefinition:
        """The definition of agent ``name``, from cache while it is fresh.

        Raises:
            AgentNotFound: no such agent, or ``name`` is not a possible agent name
                (checked before the source is touched).
            InvalidAgent: the definition does not pass schema v1.
            TransientError: the source could not be reached.
            ConfigurationError: the source refused access or does not exist.
        """
        if not is_agent_name(name):
            raise AgentNotFound(name)
        if self.versions is not None:
            await self._follow_versions([name], self.versions)
        return await self._cached_or_loaded(name)

    async def get_many(self, names: Sequence[str]) -> list[AgentDefinition | AgentNotFound | InvalidAgent]:
        """The definitions of ``names`` in order, each as ``get`` gives it or the error it raises.

        The versions of all of them are read in one round trip (``get`` makes one per
        agent), and those not cached are read from the source in one worker thread: for a
        pass over a whole fleet, such as the poller's over stale agents.

        Raises:
            TransientError: the source could not be reached.
            ConfigurationError: the source refused access or does not exist.
        """
        possible = [n for n in dict.fromkeys(names) if is_agent_name(n)]
        if self.versions is not None and possible:
            await self._follow_versions(possible, self.versions)
        now = self._clock()
        missing = [
            n
            for n in possible
            if n not in self._loading and (n not in self._entries or now >= self._entries[n].expires_at)
        ]
        if len(missing) > 1:
            await self._load_many(missing)
        found: list[AgentDefinition | AgentNotFound | InvalidAgent] = []
        for name in names:
            try:
                if not is_agent_name(name):
                    raise AgentNotFound(name)
                found.append(await self._cached_or_loaded(name))
            except (AgentNotFound, InvalidAgent) as exc:
                found.append(exc)
        return found

    async def _cached_or_loaded(self, name: str) -> AgentDefinition:
        entry = self._entries.get(name)
        if entry is not None and self._clock() < entry.expires_at:
            return entry.unwrap()
        task = self._loading.get(name)
        if task is None:
            task = asyncio.create_task(self._load(name), name=f"load-agent-{name}")
            self._loading[name] = task
            task.add_done_callback(lambda t: self._finished(name, t))
        # shielded: one caller giving up must not cancel the load the others wait for
        return await asyncio.shield(task)

    def invalidate(self, name: str | None = None) -> None:
        """Forget agent ``name`` (every agent when None): the next ``get`` reads it again."""
        if name is None:
            self._entries.clear()
            self._loading.clear()
            self._epoch += 1
        else:
            self._entries.pop(name, None)
            if self._loading.pop(name, None) is not None:
                self._generation[name] = self._generation.get(name, 0) + 1
        log.info("agents.invalidated", agent=name or "*")

    async def _follow_versions(self, names: Sequence[str], versions: Versions) -> None:
        """Drop what a version bump made stale since this store last looked (one round trip)."""
        try:
            if len(names) == 1:
                of_name, of_all = await versions.read(names[0])
                of_names: Sequence[Hashable] = [of_name]
            else:
                of_names, of_all = await versions.read_many(names)
        except TransientError as exc:
            log.warning("agents.versions_unavailable", agent=names[0], agents=len(names), error=str(exc))
            return
        # a version not seen before drops whatever is cached under it (nothing, on a first load)
        if of_all != self._seen_all:
            if self._entries or self._loading:
                self.invalidate()
            self._seen_all = of_all
        for name, of_name in zip(names, of_names, strict=True):
            if of_name != self._seen.get(name, _UNSEEN):
                if name in self._entries or name in self._loading:
                    self.invalidate(name)
                self._seen[name] = of_name
        if len(self._seen) > self._prune_seen_above:
            # The names just followed stay: they are about to load (pruning one before its load
            # made its next get take the version for a bump and read it again, at every get).
            keep = set(names)
            self._seen = {n: v for n, v in self._seen.items() if n in self._entries or n in self._loading or n in keep}
            self._prune_seen_above = max(_PRUNE_ABOVE, 2 * len(self._seen))

    async def load_all(self) -> LoadReport:
        """Load every agent the source lists; an invalid agent never stops the others.

        An agent that disappears between listing and loading is left out.

        Raises:
            TransientError: the source could not be reached.
            ConfigurationError: the source refused access or does not exist.
        """
        names = await asyncio.to_thread(self.source.agent_names)
        results = await asyncio.gather(*(self._get_listed(n) for n in names), return_exceptions=True)
        agents: dict[str, AgentDefinition] = {}
        invalid: list[InvalidAgent] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, AgentDefinition):
                agents[name] = result
            elif isinstance(result, InvalidAgent):
                invalid.append(result)
            elif not isinstance(result, AgentNotFound):
                raise result
        return LoadReport(agents=agents, invalid=invalid)

    async def _get_listed(self, name: str) -> AgentDefinition:
        if not is_agent_name(name):
            folder = f"{self.source.locate('agents')}/{name}"
            raise InvalidAgent(name, file=folder, field="name", problem=f"an agent's folder name must be {NAME_RULE}")
        return await self.get(name)

    async def _load(self, name: str) -> AgentDefinition:
        stamp = (self._epoch, self._generation.get(name, 0))
        try:
            definition = await asyncio.to_thread(load_agent, self.source, name)
        except (InvalidAgent, AgentNotFound) as exc:
            self._loaded(name, stamp, exc)
            raise
        self._loaded(name, stamp, definition)
        return definition

    async def _load_many(self, names: list[str]) -> None:
        """Read ``names`` from the source in one worker thread (one hop, not one each) and cache them.

        A source failure is not cached: that agent's ``get`` reads it again, and raises.
        """
        stamps = [(self._epoch, self._generation.get(n, 0)) for n in names]
        results = await asyncio.to_thread(_load_each, self.source, names)
        for name, stamp, result in zip(names, stamps, results, strict=True):
            if isinstance(result, AgentDefinition | InvalidAgent | AgentNotFound):
                self._loaded(name, stamp, result)

    def _loaded(
        self, name: str, stamp: tuple[int, int], result: AgentDefinition | InvalidAgent | AgentNotFound
    ) -> None:
        if isinstance(result, AgentDefinition):
            ttl_s = result.cache_ttl_s
            self._remember(name, stamp, _Entry(expires_at=self._clock() + ttl_s, definition=result))
            log.info("agents.loaded", agent=name, origin=result.origin, ttl_s=ttl_s, skills=len(result.skills))
            return
        if isinstance(result, InvalidAgent):
            log.warning("agents.invalid", agent=name, file=result.file, field=result.field, problem=result.problem)
        self._remember(name, stamp, _Entry(expires_at=self._clock() + self._retry_invalid_after_s, error=result))

    def _remember(self, name: str, stamp: tuple[int, int], entry: _Entry) -> None:
        # an invalidate() during the load makes its result stale: do not cache it
        if stamp == (self._epoch, self._generation.get(name, 0)):
            self._entries[name] = entry
        if len(self._entries) > self._prune_entries_above:  # names of agents that never existed must not pile up
            now = self._clock()
            self._entries = {n: e for n, e in self._entries.items() if e.expires_at > now}
            self._prune_entries_above = max(_PRUNE_ABOVE, 2 * len(self._entries))

    def _finished(self, name: str, task: asyncio.Task[AgentDefinition]) -> None:
        if self._loading.get(name) is task:
            del self._loading[name]
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure logs no warning


def _load_each(source: Source, names: list[str]) -> list[AgentDefinition | Exception]:
    """Each of ``names`` loaded from ``source``, or what its load raised (on a worker thread)."""
    found: list[AgentDefinition | Exception] = []
    for name in names:
        try:
            found.append(load_agent(source, name))
        except Exception as exc:  # handed back whole: the caller decides what is cached
            found.append(exc)
    return found


async def validate_directory(path: Path) -> LoadReport:
    """Load every agent in ``path`` (a checkout root or a folder of agents), for ``agents validate``.

    Raises:
        ConfigurationError: ``path`` is not a directory, or holds no agent.
    """
    report = await AgentStore(DirectorySource(path)).load_all()
    if not report.agents and not report.invalid:
        raise ConfigurationError(
            f"no agents in {str(path)!r}: expected agents/<name>/config.yaml (a checkout) or <name>/config.yaml"
        )
    return report

"""What a pump consumes: which streams (with claim weights), as which group, serialised or not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.events import Priority

from ._config import StreamSettings
from ._keys import StreamKeys


@dataclass(frozen=True, kw_only=True)
class Route:
    """The streams one pump reads and how.

    Attributes:
        weights: each stream read, with its share of the claim slots.
        group: the consumer group the pump reads as.
        serialise: take a per-subject (agent) lease before running an event, so one
            agent never has two handlers at once. The runners need it; a consumer of
            outcomes (the metrics function) does not, and must not contend for the
            runners' leases.
    """

    weights: Mapping[str, int]
    group: str
    serialise: bool = True

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams, in the order given."""
        return tuple(self.weights)

    @classmethod
    def activations(
        cls, keys: StreamKeys, settings: StreamSettings, *, priorities: Iterable[str | Priority] | None = None
    ) -> Route:
        """The runners: the activation streams by priority weight, serialised per agent.

        ``priorities`` narrows it to a pool's streams (``RunnerMode.priorities``); all by default.
        """
        chosen = set(Priority) if priorities is None else {Priority(p) for p in priorities}
        if not chosen:
            raise ValueError("a runner pool must consume at least one activation stream")
        weights = {keys.activations(p): w for p, w in settings.weights.items() if p in chosen}
        return cls(weights=weights, group=settings.group)

    @classmethod
    def results(cls, keys: StreamKeys, settings: StreamSettings) -> Route:
        """The metrics function: the results stream as its own group, no agent leases."""
        return cls(weights={keys.results: 1}, group=settings.results_group, serialise=False)

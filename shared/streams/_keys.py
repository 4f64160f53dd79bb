"""Every Redis key the transport uses, derived from one prefix."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Priority


@dataclass(frozen=True)
class StreamKeys:
    """Key names under ``prefix`` (``botburrow`` by default)."""

    prefix: str = "botburrow"

    def activations(self, priority: Priority) -> str:
        """The activation stream of one priority."""
        return f"{self.prefix}:activations:{priority.value}"

    @property
    def activation_streams(self) -> tuple[str, ...]:
        """All activation streams, highest priority first."""
        return tuple(self.activations(p) for p in Priority)

    @property
    def results(self) -> str:
        """Where runners publish the outcome of each activation."""
        return f"{self.prefix}:results"

    @property
    def dlq(self) -> str:
        """The dead-letter stream."""
        return f"{self.prefix}:dlq"

    @property
    def dlq_index(self) -> str:
        """Hash of event id → its dead-letter entry, so repeats collapse into one record."""
        return f"{self.prefix}:dlq:index"

    @property
    def fence(self) -> str:
        """Counter that hands out fencing tokens."""
        return f"{self.prefix}:lease:fence"

    def lease(self, agent_id: str) -> str:
        """The lease that serialises one agent's activations."""
        return f"{self.prefix}:lease:agent:{agent_id}"

    @staticmethod
    def delayed(stream: str) -> str:
        """The sorted set of entries waiting to go back onto ``stream``."""
        return f"{stream}:delayed"

    def done(self, event_id: str, step: str) -> str:
        """Done-marker of one effect of one event."""
        return f"{self.prefix}:done:{event_id}:{step}"

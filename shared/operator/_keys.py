"""Redis keys of the operator's controls, under the streams prefix."""

from __future__ import annotations

from dataclasses import dataclass

CANCEL_TTL_S = 24 * 3600
"""How long a cancellation waits for its activation to start or reach its next step."""


@dataclass(frozen=True)
class OperatorKeys:
    """Key names under ``prefix`` (the streams prefix, ``botburrow`` by default)."""

    prefix: str = "botburrow"

    @property
    def paused(self) -> str:
        """Hash of paused agents: name -> JSON ``{"by", "at"}``."""
        return f"{self.prefix}:paused"

    def cancel(self, activation_id: str) -> str:
        """Set while ``activation_id`` is to stop (JSON ``{"by", "at"}``), for ``CANCEL_TTL_S``."""
        return f"{self.prefix}:cancel:{activation_id}"

    @property
    def audit(self) -> str:
        """Stream of the controls operators used: who, action, target, at, result."""
        return f"{self.prefix}:audit"

    @property
    def agent_names(self) -> str:
        """The poller's hash of Hub id -> agent name."""
        return f"{self.prefix}:poller:agents"

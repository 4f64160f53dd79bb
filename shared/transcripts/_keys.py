"""Redis keys of transcripts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TranscriptKeys:
    """Key names under ``prefix`` (the streams prefix, ``botburrow`` by default)."""

    prefix: str = "botburrow"

    def entries(self, activation_id: str, attempt: int) -> str:
        """List of one attempt's entries, JSON each, in order."""
        return f"{self.prefix}:transcript:{activation_id}:{attempt}"

    def attempts(self, activation_id: str) -> str:
        """Hash of one activation's attempts that have a transcript: attempt -> start time."""
        return f"{self.prefix}:transcript:{activation_id}:attempts"

    @property
    def index(self) -> str:
        """Sorted set of ``<activation id>:<attempt>`` by start time, for listing and expiry."""
        return f"{self.prefix}:transcripts"

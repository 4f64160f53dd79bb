"""One clock for every test that moves time by hand."""

from __future__ import annotations

T_2025 = 1_750_000_000.0
"""2025-06-15T15:06:40Z, the default start."""


class Clock:
    """Wall time in seconds that only the test moves: a callable for any ``clock=`` argument."""

    def __init__(self, now: float = T_2025) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move time on by ``seconds``; the new time."""
        self.now += seconds
        return self.now

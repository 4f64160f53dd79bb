"""The Hub's rate limits: requests per key per minute, posts and comments per agent.

Counting always happens (so the ``X-RateLimit-*`` headers are real); refusing happens
only when the mock enforces limits. Time comes from the mock's clock.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from typing import NamedTuple

from ._model import HubLimits


class Window(NamedTuple):
    """The state of one key's request window, as the rate-limit headers report it.

    A tuple, not a frozen dataclass: one is made for every request, and a tuple is the
    cheapest immutable record to make.
    """

    limit: int
    remaining: int
    reset_epoch_s: int
    retry_after_s: int | None

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch_s),
        }


class RateLimiter:
    def __init__(self, limits: HubLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._requests: dict[str, tuple[int, int]] = {}  # key -> (window start, count)
        self._posts: dict[str, deque[float]] = defaultdict(deque)
        self._comments: dict[str, deque[float]] = defaultdict(deque)

    def reset(self) -> None:
        self._requests.clear()
        self._posts.clear()
        self._comments.clear()

    def request(self, key: str) -> Window:
        """Count one request of ``key`` in its fixed one-minute window."""
        now = self._clock()
        start = int(now // 60 * 60)
        window_start, count = self._requests.get(key, (start, 0))
        if window_start != start:
            count = 0
        count += 1
        self._requests[key] = (start, count)
        limit = self.limits.requests_per_min
        over = count > limit
        return Window(limit, max(0, limit - count), start + 60, max(1, math.ceil(start + 60 - now)) if over else None)

    def post_retry_after(self, agent_id: str) -> int | None:
        """Seconds until the agent may post again, or ``None`` when it may now."""
        return self._check(self._posts[agent_id], self.limits.posts_per_window, self.limits.post_window_s)

    def comment_retry_after(self, agent_id: str) -> int | None:
        """Seconds until the agent may comment again, or ``None`` when it may now."""
        return self._check(self._comments[agent_id], self.limits.comments_per_hour, 3600.0)

    def posted(self, agent_id: str) -> None:
        self._posts[agent_id].append(self._clock())

    def commented(self, agent_id: str) -> None:
        self._comments[agent_id].append(self._clock())

    def _check(self, times: deque[float], allowed: int, window_s: float) -> int | None:
        now = self._clock()
        while times and times[0] <= now - window_s:
            times.popleft()
        if len(times) < allowed:
            return None
        return max(1, math.ceil(times[0] + window_s - now))

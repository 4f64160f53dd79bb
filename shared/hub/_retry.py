"""The contract's retry policy, and the translation of httpx failures into ``HubUnavailable``.

408, 429 and 5xx answers, timeouts and connection errors are retried with exponential
backoff and jitter; a ``Retry-After`` (seconds or an HTTP date) replaces the backoff.
A ``Retry-After`` longer than ``backoff_max_s`` is not slept through: the caller gets
``HubUnavailable.retry_after_s`` at once and can defer the whole activation instead.
Every other answer (2xx, and 4xx such as 401/403, which are never retried) is returned
for the client to read.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import structlog

from shared.errors import ConfigurationError, HubUnavailable

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def retryable(status: int) -> bool:
    """Whether an answer with ``status`` is worth trying again (408, 429, 5xx)."""
    return status in (408, 429) or status >= 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry one Hub call."""

    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff times must not be negative")

    def backoff_s(self, failed_attempt: int) -> float:
        """Exponential backoff with equal jitter after the ``failed_attempt``-th try (1-based)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failed_attempt - 1))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    def delay_s(self, failed_attempt: int, retry_after_s: float | None) -> float | None:
        """How long to wait before the next try; ``None`` when the Hub asked for longer than we wait."""
        if retry_after_s is None:
            return self.backoff_s(failed_attempt)
        return retry_after_s if retry_after_s <= self.backoff_max_s else None


async def send_with_retry(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy,
    sleep: Sleep,
    what: str,
) -> httpx.Response:
    """Call ``send`` until it gives an answer that is not retryable, within the policy.

    ``what`` names the call in logs and errors (``"POST /posts"``); it never holds a key.

    Raises:
        ConfigurationError: the URL cannot be used at all (not retried).
        HubUnavailable: the last attempt failed with a retryable answer or a transport error,
            or the Hub asked (``Retry-After``) for a longer wait than ``backoff_max_s``.
    """
    attempt = 0
    while True:
        attempt += 1
        cause: Exception | None = None
        try:
            response = await send()
        except httpx.TimeoutException as exc:
            failure, cause = HubUnavailable(f"{what}: the Hub did not answer in time"), exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConfigurationError(f"{what}: the Hub URL is unusable ({type(exc).__name__})") from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            failure, cause = HubUnavailable(f"{what}: connection failed ({type(exc).__name__})"), exc
        else:
            if not retryable(response.status_code):
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            failure = HubUnavailable(
                f"{what}: the Hub answered {response.status_code}",
                status=response.status_code,
                retry_after_s=retry_after,
            )
        delay = policy.delay_s(attempt, failure.retry_after_s) if attempt < policy.max_attempts else None
        if delay is None:
            log.warning(
                "hub.gave_up", call=what, status=failure.status, attempts=attempt, retry_after_s=failure.retry_after_s
            )
            raise failure from cause
        log.info("hub.retry", call=what, status=failure.status, attempt=attempt, delay_s=round(delay, 3))
        await sleep(delay)

"""Retry a provider's transient failures with exponential backoff, jitter and ``retry-after``.

The adapters have already sorted every failure into the error tree, so the policy is
one ``isinstance``: ``LLMUnavailable`` is tried again, everything else (``LLMRejected``,
``LLMSpendLimit``) goes straight to the caller. What failed attempts had used (a stream
cut mid-response, ``LLMInterrupted``) is added to the answer's usage, or carried by the
error the caller gets, so it is billed either way.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from shared.errors import LLMUnavailable

from ._errors import interrupted, spent_by
from ._types import Completion, LLMProvider, Message, ToolSpec, Usage

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry a transient LLM failure.

    Attempt ``n`` (from 1) that fails waits ``base_delay_s * 2 ** (n - 1)``, capped at
    ``max_delay_s``, with the upper half jittered; a provider's ``retry-after`` replaces
    that delay. A ``retry-after`` longer than ``max_delay_s`` is not waited out here: the
    error goes up at once with its ``retry_after_s`` so the caller can defer the work.
    """

    max_attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays cannot be negative")

    def delay_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt``."""
        if retry_after_s is not None:
            return retry_after_s
        ceiling = min(self.base_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


class RetryingProvider:
    """An ``LLMProvider`` that retries another's ``LLMUnavailable`` failures.

    ``sleep`` is injectable so tests need not wait; ``rng`` makes the jitter repeatable.
    """

    def __init__(
        self,
        inner: LLMProvider,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def complete(
        self,
        *,
        model: str,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int,
        temperature: float | None = None,
    ) -> Completion:
        """Ask the inner provider, retrying transient failures under the policy.

        Raises:
            LLMUnavailable: every attempt failed transiently, or the provider asked for a
                wait longer than the policy allows (its ``retry_after_s`` is kept); an
                ``LLMInterrupted`` with the usage of the attempts that had used tokens.
            LLMRejected: the provider refused the request (``LLMSpendLimit`` included).
        """
        attempt = 1
        spent = Usage()  # what failed attempts had used
        while True:
            try:
                completion = await self.inner.complete(
                    model=model,
                    system=system,
                    messages=messages,
                    tools=tools,
                    max_tokens=max_tokens,
                    temperature=temperature,
                )
            except LLMUnavailable as exc:
                spent += spent_by(exc)
                if attempt >= self.policy.max_attempts:
                    gave_up = LLMUnavailable(
                        f"{exc} (gave up after {attempt} attempts)", status=exc.status, retry_after_s=exc.retry_after_s
                    )
                    raise interrupted(gave_up, spent) from exc
                if exc.retry_after_s is not None and exc.retry_after_s > self.policy.max_delay_s:
                    log.warning("llm.retry.deferred", model=model, status=exc.status, retry_after_s=exc.retry_after_s)
                    raise interrupted(exc, spent) from exc
                delay = self.policy.delay_s(attempt, exc.retry_after_s, self._rng)
                log.warning(
                    "llm.retry",
                    model=model,
                    attempt=attempt,
                    status=exc.status,
                    delay_s=round(delay, 3),
                    error=str(exc),
                )
                await self._sleep(delay)
                attempt += 1
            else:
                return replace(completion, usage=completion.usage + spent) if spent.total_tokens else completion

    async def aclose(self) -> None:
        """Close the inner provider."""
        await self.inner.aclose()

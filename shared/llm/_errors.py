"""Sort a provider's HTTP failure into the error tree, once, for both adapters.

* spend limit (a 429 whose code or message says the account's limit or quota is
  reached, a 402, Anthropic's ``billing_error``) -> ``LLMSpendLimit``: never retried;
* 408, 409, 429, 5xx, 529 -> ``LLMUnavailable`` with the provider's ``retry-after``;
* any other status -> ``LLMRejected`` with the provider's message;
* no response at all (refused, reset, timed out) -> ``LLMUnavailable`` without a status;
* a transient failure after the provider had counted tokens (a stream cut after its
  ``message_start``) -> ``LLMInterrupted``, an ``LLMUnavailable`` carrying that ``usage``,
  so what was billed is still accounted.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping

from shared.errors import LLMRejected, LLMSpendLimit, LLMUnavailable

from ._types import Usage

SPEND_LIMIT_CODES = frozenset(
    {
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
        "insufficient_quota",
        "billing_hard_limit_reached",
    }
)
_SPEND_WORDS = re.compile(
    r"usage limit|spend(ing)? limit|credit balance|exceeded your current quota|insufficient.quota", re.IGNORECASE
)
_RETRYABLE = frozenset({408, 409, 429})
_MAX_MESSAGE = 500


class LLMInterrupted(LLMUnavailable):
    """A transient failure of a call (or of a retried call's attempts) that had already used ``usage``."""

    def __init__(
        self, message: str, *, usage: Usage, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status=status, retry_after_s=retry_after_s)
        self.usage = usage


def spent_by(error: BaseException) -> Usage:
    """What a failed call had used before it failed (nothing, unless it was ``LLMInterrupted``)."""
    return error.usage if isinstance(error, LLMInterrupted) else Usage()


def interrupted(error: LLMUnavailable, usage: Usage) -> LLMUnavailable:
    """``error`` carrying ``usage`` when any was spent; ``error`` itself otherwise."""
    if not usage.total_tokens:
        return error
    return LLMInterrupted(str(error), usage=usage, status=error.status, retry_after_s=error.retry_after_s)


def status_error(
    provider: str,
    *,
    status: int,
    message: str,
    headers: Mapping[str, str],
    code: str | None = None,
    error_type: str | None = None,
) -> LLMUnavailable | LLMRejected:
    """The error for an HTTP failure answered by ``provider`` with ``status``."""
    text = f"{provider} answered {status}: {message[:_MAX_MESSAGE]}"
    if is_spend_limit(status=status, message=message, code=code, error_type=error_type):
        return LLMSpendLimit(text, status=status)
    if status in _RETRYABLE or status >= 500:
        return LLMUnavailable(text, status=status, retry_after_s=retry_after_s(headers))
    return LLMRejected(text, status=status)


def connection_error(provider: str, problem: str) -> LLMUnavailable:
    """The error for a call that got no complete answer (refused, reset, timed out)."""
    return LLMUnavailable(f"{provider} unreachable: {problem[:_MAX_MESSAGE]}")


def is_spend_limit(*, status: int, message: str, code: str | None, error_type: str | None) -> bool:
    """Whether the failure says the account cannot spend more, so retrying is pointless."""
    if status == 402 or error_type == "billing_error" or (code is not None and code in SPEND_LIMIT_CODES):
        return True
    return status in (400, 403, 429) and bool(_SPEND_WORDS.search(message))


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asked us to wait: ``retry-after-ms``, else ``retry-after``.

    ``retry-after`` may be seconds or an HTTP date; anything unreadable counts as absent.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)

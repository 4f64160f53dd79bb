"""The Hub client: every call of HUB-CONTRACT.md, with its retry policy and lenient parsing.

::

    HubClient ─┬─► _wire       paths, parameters, body fields: the request side of the dialect
               ├─► _transport  auth headers, status → error, JSON; through _retry (408/429/5xx and
               │               transport errors retried with backoff; Retry-After honoured)
               └─► _parse      envelopes, sender and text variants, bad records skipped ──► _models

Failures surface only as ``shared.errors`` types: ``HubUnavailable`` (retry later,
``retry_after_s`` when the Hub said), ``HubRejected`` (a 4xx retrying cannot change) and
its ``HubAuthError`` (401/403, never retried). Writes take an ``idempotency_key``.
"""

from ._client import HubClient
from ._models import (
    AgentRef,
    AgentWork,
    BudgetHealth,
    Comment,
    Consumption,
    Created,
    Notification,
    NotificationType,
    Post,
    StaleAgent,
)
from ._parse import notification as parse_notification
from ._retry import RetryPolicy, parse_retry_after
from ._wire import normalize_community

__all__ = [
    "AgentRef",
    "AgentWork",
    "BudgetHealth",
    "Comment",
    "Consumption",
    "Created",
    "HubClient",
    "Notification",
    "NotificationType",
    "Post",
    "RetryPolicy",
    "StaleAgent",
    "normalize_community",
    "parse_notification",
    "parse_retry_after",
]

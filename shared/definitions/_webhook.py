"""The push webhook, HTTP-free: a signed request in, a status, a JSON answer and what to invalidate out.

``answer_webhook`` is what the definitions function's ``POST /webhook`` view calls:

======================================  ======  ============================================
request                                 status  answer
======================================  ======  ============================================
no or wrong ``X-Hub-Signature-256``     401     ``{"error": "unauthorized"}``; nothing done
GitHub ``ping`` (``X-GitHub-Event``)    200     ``{"event": "ping", ...}``; nothing done
a body that is not a JSON object        400     ``{"error": "invalid_body", "problem": ...}``
another GitHub event (``release``...)   200     ``{"event": ..., "ignored": true}``
a push, or ``{"all": true}``            200     ``{"event", "all", "agents", "reason"}``
======================================  ======  ============================================

The signature is checked first, over the raw body, so an unsigned request learns
nothing about what the body should have been.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from shared.errors import InvalidEvent
from shared.settings import Secret
from shared.signing import verify_signature

from ._push import Invalidation, invalidation_for, parse_body

log = structlog.get_logger("botburrow.definitions")

EVENT_HEADER = "X-GitHub-Event"
_ACTED_ON = frozenset({"push", ""})


@dataclass(frozen=True, kw_only=True)
class WebhookAnswer:
    """What to answer, and what to invalidate (None: nothing)."""

    status: int
    body: dict[str, Any]
    invalidation: Invalidation | None = None


def answer_webhook(
    secret: Secret | None,
    body: bytes,
    *,
    signature: str | None,
    event: str | None = None,
    content_type: str | None = None,
) -> WebhookAnswer:
    """Check ``signature`` (``X-Hub-Signature-256``), then read the body; never raises.

    ``event`` is the ``X-GitHub-Event`` header (None for an operator's curl),
    ``content_type`` the ``Content-Type`` (GitHub may send ``payload=`` form-encoded).
    """
    verdict = verify_signature(secret.reveal() if secret else "", body, signature)
    if not verdict:
        log.warning("definitions.webhook_refused", verdict=str(verdict), configured=secret is not None)
        return WebhookAnswer(status=401, body={"error": "unauthorized", "signature": str(verdict)})
    event = (event or "").strip().lower()
    if event == "ping":
        return WebhookAnswer(status=200, body={"event": "ping", "all": False, "agents": []})
    try:
        payload = parse_body(body, content_type=content_type)
        if event not in _ACTED_ON:
            return WebhookAnswer(status=200, body={"event": event, "ignored": True, "all": False, "agents": []})
        invalidation = invalidation_for(payload)
    except InvalidEvent as exc:
        return WebhookAnswer(status=400, body={"error": "invalid_body", "field": exc.field, "problem": exc.problem})
    said = {"event": event or "direct", **invalidation.as_json()}
    log.info("definitions.webhook", github_event=said["event"], **invalidation.as_json())
    return WebhookAnswer(status=200, body=said, invalidation=invalidation)

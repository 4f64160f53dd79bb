r"""Authenticating pushed requests: GitHub-style HMAC signatures and bearer tokens.

One scheme for every function that takes pushed events (the Hub's webhooks, an
agent-definitions repository's push webhook, an operator's curl)::

    X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>
    Authorization: Bearer <token>

``signature(secret, body)`` gives the header value a sender puts on a request;
``verify_signature`` and ``verify_bearer`` check one in constant time. Neither ever
says *why* a request failed beyond "missing" or "mismatch", and neither logs a secret.

Try it::

    body='{"agent_id": "nova"}'
    sig=$(printf %s "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/^.* /sha256=/')
    curl -H "X-Hub-Signature-256: $sig" -H 'Content-Type: application/json' -d "$body" ...
"""

from ._hmac import (
    BEARER_PREFIX,
    SIGNATURE_HEADER,
    SIGNATURE_PREFIX,
    Verdict,
    signature,
    verify_bearer,
    verify_signature,
)

__all__ = [
    "BEARER_PREFIX",
    "SIGNATURE_HEADER",
    "SIGNATURE_PREFIX",
    "Verdict",
    "signature",
    "verify_bearer",
    "verify_signature",
]

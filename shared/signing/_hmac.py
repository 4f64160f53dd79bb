"""HMAC-SHA256 body signatures (GitHub's ``X-Hub-Signature-256``) and bearer tokens, checked in constant time."""

from __future__ import annotations

import enum
import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
BEARER_PREFIX = "Bearer "


class Verdict(enum.StrEnum):
    """What a check found; only ``OK`` lets a request in."""

    OK = "ok"
    MISSING = "missing"  # no header, or one of the wrong form
    MISMATCH = "mismatch"  # a header of the right form that does not match

    def __bool__(self) -> bool:
        return self is Verdict.OK


def signature(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body`` under ``secret``: ``sha256=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> Verdict:
    """Whether ``header`` is the signature of exactly ``body`` under ``secret``.

    An empty secret verifies nothing: a deployment that forgot its secret refuses every
    request rather than accepting every one.
    """
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return Verdict.MISSING
    expected = signature(secret, body)
    return Verdict.OK if hmac.compare_digest(expected.encode(), header.strip().encode()) else Verdict.MISMATCH


def verify_bearer(token: str, header: str | None) -> Verdict:
    """Whether an ``Authorization`` header carries exactly ``token`` (an empty token verifies nothing)."""
    if not token or not header or not header.startswith(BEARER_PREFIX):
        return Verdict.MISSING
    given = header[len(BEARER_PREFIX) :].strip()
    return Verdict.OK if hmac.compare_digest(given.encode(), token.encode()) else Verdict.MISMATCH

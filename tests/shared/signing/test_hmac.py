"""Signatures and bearer tokens: what passes, and what each wrong request is called."""

from __future__ import annotations

import hashlib
import hmac
import subprocess

import pytest

from shared.signing import Verdict, signature, verify_bearer, verify_signature

BODY = b'{"ref": "refs/heads/main", "commits": []}'


def test_the_signature_is_githubs_hmac_sha256_of_the_body() -> None:
    expected = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert signature("s3cret", BODY) == expected
    assert verify_signature("s3cret", BODY, expected) is Verdict.OK


def test_the_readmes_openssl_line_makes_the_same_signature() -> None:
    made = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", "s3cret"], input=BODY, capture_output=True, check=True, env={}
    ).stdout.decode()
    assert "sha256=" + made.split()[-1] == signature("s3cret", BODY)


@pytest.mark.parametrize(
    ("secret", "body", "header", "verdict"),
    [
        ("s3cret", BODY, None, Verdict.MISSING),
        ("s3cret", BODY, "", Verdict.MISSING),
        ("s3cret", BODY, "sha1=abc", Verdict.MISSING),
        ("s3cret", BODY + b" ", signature("s3cret", BODY), Verdict.MISMATCH),
        ("other", BODY, signature("s3cret", BODY), Verdict.MISMATCH),
        ("", BODY, signature("", BODY), Verdict.MISSING),  # no secret configured: nothing passes
    ],
)
def test_a_wrong_signature_is_refused(secret: str, body: bytes, header: str | None, verdict: Verdict) -> None:
    got = verify_signature(secret, body, header)
    assert got is verdict
    assert not got


def test_bearer_tokens() -> None:
    assert verify_bearer("tok", "Bearer tok") is Verdict.OK
    assert verify_bearer("tok", "Bearer tok2") is Verdict.MISMATCH
    assert verify_bearer("tok", "Basic tok") is Verdict.MISSING
    assert verify_bearer("tok", None) is Verdict.MISSING
    assert verify_bearer("", "Bearer ") is Verdict.MISSING

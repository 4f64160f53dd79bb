"""No credential of the developer's reaches a test or a test's child process.

Two halves. ``strip_credentials`` takes every credential-looking variable out of an
environment; the session does it to ``os.environ`` before anything starts, and again
before each test (``tests/conftest.py``), so neither the code under test nor a child that
inherits can see a real key, and nothing reaches a real Hub, LLM or bucket by accident.
``child_env`` builds a child's environment from an allow-list plus what the test passes:
a child gets what it needs, named, never ``os.environ`` whole.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, MutableMapping

CREDENTIAL_PATTERNS = (
    "*API_KEY*",
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*CREDENTIAL*",
    "*PRIVATE_KEY*",
    "*ACCESS_KEY*",
    "*_AUTH*",
    "AWS_*",
    "R2_*",
    "ANTHROPIC_*",
    "OPENAI_*",
    "GROQ_*",
    "GOOGLE_*",
    "HUB_*",
    "GITHUB_*",
    "BRAVE_*",
    "POSTGRES_*",
    "DATABASE_URL",
    "REDIS_URL",
)
"""Names (upper-cased) that hold a secret or point at a real service. The service prefixes go
whole: a developer's ``HUB_URL`` or ``ANTHROPIC_BASE_URL`` must not aim a test at the real thing."""

CHILD_ALLOWED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "PYTHONDONTWRITEBYTECODE")
"""What a child inherits of the test's environment; everything else it is given by name."""


def is_credential(name: str) -> bool:
    """Whether a variable of this name is taken out of a test's environment."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in CREDENTIAL_PATTERNS)


def strip_credentials(environ: MutableMapping[str, str]) -> list[str]:
    """Delete every credential-looking variable from ``environ``; the names deleted, sorted."""
    names = sorted(name for name in environ if is_credential(name))
    for name in names:
        del environ[name]
    return names


def child_env(extra: Mapping[str, str] | None = None, /, **more: str) -> dict[str, str]:
    """A child's environment: the allow-listed variables of this process, then ``extra`` and ``more``.

    What the test passes is the child's to have, fake keys included (``HUB_API_KEY=botburrow-local``).
    """
    env = {name: os.environ[name] for name in CHILD_ALLOWED if name in os.environ}
    env.update(extra or {})
    env.update(more)
    return env

"""Reading what a CLI printed: JSON lines among other lines, and a short tail for error messages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ._types import Ending

TAIL_CHARS = 400


def json_lines(output: bytes) -> list[dict[str, Any]]:
    """Every line of ``output`` that is a JSON object, in order; other lines are skipped."""
    found: list[dict[str, Any]] = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith(b"{"):
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def tail(output: bytes, limit: int = TAIL_CHARS) -> str:
    """The last ``limit`` characters of ``output``, decoded, on one line (``(no output)`` when empty)."""
    text = " ".join(output.decode("utf-8", "replace").split())
    if not text:
        return "(no output)"
    return text if len(text) <= limit else "…" + text[-limit:]


_BUDGET_WORDS = ("402", "billing", "credit balance", "insufficient_quota")
_API_WORDS = (
    "api error",
    "apierror",
    "connect",
    "429",
    "rate limit",
    "rate_limit",
    "overloaded",
    "529",
    "500",
    "502",
    "503",
)


def error_ending(said: str) -> Ending:
    """What a CLI's error message says went wrong: the budget (402), the LLM API, or something else."""
    lowered = said.lower()
    if any(w in lowered for w in _BUDGET_WORDS):
        return "budget"
    if any(w in lowered for w in _API_WORDS):
        return "api_error"
    return "failed"


def count(value: object) -> int:
    """A token or turn count from JSON: an integer, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def dollars(value: object) -> Decimal | None:
    """A USD figure from JSON (a number or a numeric string), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None

"""Checking a tool call's arguments: one helper per shape, each naming the argument that is wrong.

The model's arguments arrive as a JSON object; nothing in them is trusted. Each helper
returns the value in the type the tool wants, or raises ``ToolInputError`` saying what
was expected, so every tool words its argument errors alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import ToolInputError


def text(args: Mapping[str, Any], name: str, *, default: str | None = None, blank: bool = False) -> str:
    """A required string (``default`` when absent); empty (or, unless ``blank``, only spaces) is refused."""
    value = args.get(name)
    if value is None:
        value = default
    if not isinstance(value, str) or not value or (not blank and not value.strip()):
        raise ToolInputError(f"{name} is required (a non-empty string)")
    return value


def optional_text(args: Mapping[str, Any], name: str) -> str | None:
    """A string that may be left out (``None`` when absent, null or empty)."""
    value = args.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ToolInputError(f"{name} must be a string")
    return value


def any_text(args: Mapping[str, Any], name: str) -> str:
    """A required string that may be empty (file content, a replacement)."""
    value = args.get(name)
    if not isinstance(value, str):
        raise ToolInputError(f"{name} is required (a string)")
    return value


def integer(args: Mapping[str, Any], name: str, *, default: int, low: int, high: int | None = None) -> int:
    """A whole number within bounds (``default`` when absent); ``3.0`` is taken as 3, ``true`` is not a number."""
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ToolInputError(f"{name} must be an integer {bound}")
    return value


def flag(args: Mapping[str, Any], name: str, *, default: bool = False) -> bool:
    """``true`` or ``false`` (``default`` when absent)."""
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise ToolInputError(f"{name} must be true or false")
    return value


def strings(args: Mapping[str, Any], name: str, *, what: str = "a non-empty array of strings") -> list[str]:
    """A required, non-empty list of strings (an argv)."""
    value = args.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ToolInputError(f"{name} is required: {what}")
    return list(value)

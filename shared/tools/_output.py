"""Cutting tool output to size, saying so."""

from __future__ import annotations


def cut(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, with a note of how long it was at its end."""
    if len(text) <= max_chars:
        return text
    note = f"\n…[cut: {len(text)} characters in all]"
    if max_chars <= len(note):
        return text[: max(max_chars, 0)]
    return text[: max_chars - len(note)] + note

"""Reading variables, every problem collected instead of stopping at the first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from ._models import Secret, redact_url

T = TypeVar("T")


class Env:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []
        self.asked: set[str] = set()  # every name looked up: Settings.variables()

    def names(self) -> list[str]:
        return sorted(self._environ)

    def has(self, name: str) -> bool:
        self.asked.add(name)
        return bool(self._environ.get(name, "").strip())

    def secret(self, name: str) -> Secret | None:
        """A secret variable; never echoed in an error."""
        self.asked.add(name)
        raw = self._environ.get(name, "").strip()
        return Secret(raw) if raw else None

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        self.asked.add(name)
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            shown = redact_url(raw)  # not only *_URL: a git URL in SYNC_SOURCES may carry a token
            self.problems.append(f"{name}={shown!r}: {exc}")
            return default

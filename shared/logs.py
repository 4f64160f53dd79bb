"""JSON logs with structlog: context from contextvars, secrets redacted.

Configured once by the entrypoint. Handlers bind ``event_id``, ``agent_id`` and
``traceparent`` with ``structlog.contextvars`` so every line of an activation
carries them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import orjson
import structlog

_SECRET_NAME = re.compile(r"(api_?key|secret|password|passwd|authorization|access_key|credential)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")
REDACTED = "***"


class Redactor:
    """A structlog processor that masks secrets by field name, URL password or known value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """Mask secrets in one log event."""
        for key, value in list(event.items()):
            if _SECRET_NAME.search(key):
                event[key] = REDACTED
            elif isinstance(value, str):
                event[key] = self.text(value)
        return event

    def text(self, value: str) -> str:
        """``value`` with URL passwords and known secret values masked."""
        value = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", value)
        for secret in self._values:
            value = value.replace(secret, REDACTED)
        return value

    def deep(self, value: Any) -> Any:
        """``value`` (JSON-like: mappings, lists, strings...) with every secret masked, at any depth.

        A mapping's value is masked whole when its key names a secret (``api_key``,
        ``authorization``...); strings are masked as ``text`` does.
        """
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and _SECRET_NAME.search(k) else self.deep(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


def configure_logging(*, level: str = "info", json: bool = True, secrets: Iterable[str] = ()) -> None:
    """Route structlog (and stdlib logging) to stderr, one JSON object per line."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        Redactor(secrets),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(obj, default=str).decode())
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, force=True)

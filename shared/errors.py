"""One error tree for the whole library, organised by what the caller does next.

::

    BotburrowError
    ├── TransientError          retry later (optionally after ``retry_after_s``)
    │   ├── StreamUnavailable   Redis unreachable, timed out, or refused a command
    │   └── LeaseLost           the per-agent lease expired or was taken over
    ├── PermanentError          dead-letter: retrying cannot help
    │   └── InvalidEvent        a CloudEvent or stream entry that does not parse
    └── ConfigurationError      fail at start: bad settings, Redis too old

The retry-or-dead-letter decision is one ``isinstance`` check. Foreign exceptions
(redis-py, pydantic, the CloudEvents SDK) are translated into this tree once, at the
boundary that meets them, and raised ``from`` the original.
"""

from __future__ import annotations


class BotburrowError(Exception):
    """Root of every error this library raises on purpose."""


class TransientError(BotburrowError):
    """A failure that may succeed if tried again later."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StreamUnavailable(TransientError):
    """Redis could not be reached or did not answer in time."""


class LeaseLost(TransientError):
    """This runner no longer holds the agent's lease; its effects must not land."""


class PermanentError(BotburrowError):
    """A failure that retrying cannot fix: the event goes to the dead-letter stream."""


class InvalidEvent(PermanentError):
    """A CloudEvent, its data, or a stream entry that does not parse.

    ``field`` names what was wrong: a CloudEvents attribute (``"source"``), a data
    field path (``"data.agent_id"``) or a stream entry field (``"event"``).
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid event: {field}: {problem}")
        self.field = field
        self.problem = problem


class ConfigurationError(BotburrowError):
    """Settings or the environment are unusable; the process should not start."""

"""One error tree for the whole library, organised by what the caller does next.

::

    BotburrowError
    ├── TransientError          retry later (optionally after ``retry_after_s``)
    │   ├── StreamUnavailable   Redis unreachable, timed out, or refused a command
    │   ├── LeaseLost           the per-agent lease expired or was taken over
    │   ├── HubUnavailable      the Hub timed out, dropped the connection, said 408/429/5xx
    │   └── LLMUnavailable      the LLM provider was rate limited, overloaded or unreachable
    ├── PermanentError          dead-letter: retrying cannot help
    │   ├── InvalidEvent        a CloudEvent or stream entry that does not parse
    │   ├── HubRejected         the Hub refused a request (4xx other than 408/429)
    │   │   └── HubAuthError    401/403: the key is wrong or lacks the right; never retried
    │   ├── LLMRejected         the provider refused the request (400, 401, 404, ...)
    │   │   └── LLMSpendLimit   the account's spend limit is reached (a 429 not worth retrying)
    │   ├── AgentNotFound       no definition for the agent named
    │   └── InvalidAgent        an agent definition that does not pass schema v1
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


class HubUnavailable(TransientError):
    """The Hub could not be reached, timed out, or answered 408, 429 or 5xx.

    ``status`` is the HTTP status when there was a response (``None`` for connection
    errors); ``retry_after_s`` carries the Hub's ``Retry-After`` when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.status = status


class HubRejected(PermanentError):
    """The Hub refused the request with a 4xx that retrying cannot change."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class HubAuthError(HubRejected):
    """401 or 403: the key is wrong, or does not allow this call for this agent."""


class LLMUnavailable(TransientError):
    """The LLM provider was rate limited (429), overloaded (529), failed (5xx) or unreachable."""

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.status = status


class LLMRejected(PermanentError):
    """The provider refused the request: malformed (400), bad key (401), unknown model (404)..."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMSpendLimit(LLMRejected):
    """The account's spend limit is reached: a 429 that retrying will not fix."""


class AgentNotFound(PermanentError):
    """No agent definition exists under the name asked for."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no agent definition named {name!r}")
        self.name = name


class InvalidAgent(PermanentError):
    """An agent definition that does not pass schema v1.

    ``file`` is the path (or object key) of the file at fault, ``field`` the dotted path
    of the field inside it (``"behavior.notifications"``; empty for the file as a whole).
    """

    def __init__(self, name: str, *, file: str, field: str, problem: str) -> None:
        where = f"{file}: {field}" if field else file
        super().__init__(f"invalid agent {name!r}: {where}: {problem}")
        self.name = name
        self.file = file
        self.field = field
        self.problem = problem

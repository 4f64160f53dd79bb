"""What both API dialects share: the error raised by validation, a conversation's summary, a turn."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ._scripts import StopReason, Usage


class ApiError(Exception):
    """A failure to answer with: ``kind`` is dialect-neutral (a ``FailKind`` or ``not_found``).

    Each dialect renders it in its own error body; ``code`` and ``details`` go into that
    body where the dialect has such fields.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}
        self.code = code
        self.details = details


def invalid(message: str) -> ApiError:
    """A 400 ``invalid_request`` error."""
    return ApiError(400, "invalid_request", message)


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """What the script machinery needs to know about a validated request.

    ``key`` identifies the conversation state (everything but the streaming flags), so
    a retry of the same request has the same key.
    """

    model: str
    system: str
    first_user_text: str
    last_user_text: str
    assistant_turns: int
    tools: tuple[str, ...]
    stream: bool
    key: str
    input_chars: int
    include_usage: bool = False


@dataclass(frozen=True)
class PlannedCall:
    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Turn:
    """The assistant turn to send back."""

    id: str
    text: str
    calls: tuple[PlannedCall, ...]
    stop: StopReason
    usage: Usage
    stream_delay_s: float = 0.0


def conversation_key(body: dict[str, Any]) -> str:
    """A digest of the request without its streaming flags (stable across retries)."""
    kept = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def derived_id(*parts: object, length: int = 24) -> str:
    """A short hex id derived from ``parts``: the same conversation gets the same ids."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def estimate_tokens(chars: int) -> int:
    """About four characters a token, at least one."""
    return max(1, math.ceil(chars / 4))


def pieces(text: str, size: int) -> list[str]:
    """``text`` cut into chunks of ``size`` characters (one empty chunk for empty text)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def dumps(obj: Any) -> str:
    """Compact JSON."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

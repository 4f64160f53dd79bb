"""What a call may cost before it is made, and what it did cost, from JSON or from a stream.

The worst case of a call is its request as input tokens (about four characters each, at
least) at the model's full input rate, plus ``max_tokens`` of output. What it cost is
read from the provider's own usage: the ``usage`` object of a JSON answer; in an
Anthropic stream, ``message_start``'s usage updated by each ``message_delta``; in an
OpenAI stream, the usage chunk (the gateway asks for it with ``stream_options``). A
stream cut off midway is billed for what its events had said so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from shared.llm import Usage, anthropic_usage, cost_usd, openai_usage

from ._leases import Api

CHARS_PER_TOKEN = 4
DEFAULT_MAX_TOKENS = 4096
"""The output assumed of a request that names no limit (OpenAI's ``max_tokens`` is optional)."""


def worst_case_usd(api: Api, body: Mapping[str, Any]) -> Decimal:
    """The most this request can cost: all of it as input, and every output token it allows."""
    model = str(body.get("model") or "")
    sent = {k: body.get(k) for k in ("system", "messages", "tools") if k in body}
    tokens = len(orjson.dumps(sent)) // CHARS_PER_TOKEN + 1
    limit = body.get("max_tokens") if api == "anthropic" else body.get("max_completion_tokens", body.get("max_tokens"))
    output = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_TOKENS
    return cost_usd(model, Usage(input_tokens=tokens, output_tokens=output)).usd


def usage_of(api: Api, answer: Mapping[str, Any]) -> Usage:
    """The usage of a JSON answer (zero when it has none)."""
    raw = answer.get("usage")
    if not isinstance(raw, Mapping):
        return Usage()
    return anthropic_usage(raw) if api == "anthropic" else openai_usage(raw)


class StreamMeter:
    """Reads a server-sent-event stream as it passes, keeping the latest usage and model it names."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._pending = b""
        self._raw: dict[str, Any] = {}
        self.model: str | None = None

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the stream (events may span chunks)."""
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            self._line(line.strip())

    @property
    def usage(self) -> Usage:
        """The usage the stream reported so far."""
        if not self._raw:
            return Usage()
        return anthropic_usage(self._raw) if self._api == "anthropic" else openai_usage(self._raw)

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            return
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        if self._api == "anthropic":
            self._anthropic(event)
        elif isinstance(event.get("usage"), dict):
            self._raw = dict(event["usage"])
            self.model = event.get("model") or self.model
        elif event.get("model"):
            self.model = event["model"]

    def _anthropic(self, event: dict[str, Any]) -> None:
        if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            self.model = message.get("model") or self.model
            if isinstance(message.get("usage"), dict):
                self._raw.update({k: v for k, v in message["usage"].items() if v is not None})
        elif event.get("type") == "message_delta" and isinstance(event.get("usage"), dict):
            self._raw.update({k: v for k, v in event["usage"].items() if v is not None})

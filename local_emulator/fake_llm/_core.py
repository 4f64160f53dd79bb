"""The fake's state: registered scripts, the requests received, attempt counters.

Script selection, in order:

1. a ``[[script:NAME]]`` marker in the system prompt or the first user message
   (naming an unregistered script is a 400, so a typo fails the test);
2. a registered script whose name equals the request's ``model``;
3. the default script, when one was configured;
4. the built-in default: a plain reply (see ``plain_reply``).

The plain reply (the built-in default, and every step past a script's end) is
``default_reply``: the agent's name and an echo. With ``voices=True`` it is instead a
line of the agent's ``Voice`` section, plus an ``@friend`` when a person wrote (see
``_voices``); a system prompt without voice lines still gets ``default_reply``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._common import ApiError, Conversation, PlannedCall, Turn, derived_id, dumps, estimate_tokens, invalid
from ._faults import Faults
from ._scripts import MARKER, Script, Step, Usage, default_reply
from ._voices import voice_reply

BUILTIN = "default"
# A long-running emulator must not grow without bound: keep the most recent requests and conversations.
MAX_RECORDED = 10_000
_SECRET_HEADERS = frozenset({"x-api-key", "authorization"})


@dataclass
class RecordedRequest:
    """One request the fake received; ``status`` is filled in once it is answered."""

    api: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    received_at: float = field(default_factory=time.monotonic)
    status: int | None = None
    script: str | None = None
    step: int | None = None
    attempt: int | None = None
    fault: str | None = None  # the runtime fault that answered it


@dataclass(frozen=True)
class Plan:
    """Which script, step and attempt a request is."""

    script: str
    index: int
    attempt: int
    step: Step


class FakeLLM:
    """Scripts, recorded requests and attempt counters; no I/O."""

    def __init__(
        self,
        *,
        scripts: Iterable[Script] = (),
        default_script: str | None = None,
        api_keys: Iterable[str] | None = None,
        voices: bool = False,
    ) -> None:
        self.scripts: dict[str, Script] = {}
        for script in scripts:
            self.add_script(script)
        if default_script is not None and default_script not in self.scripts:
            raise ValueError(f"default script {default_script!r} is not registered")
        self.default_script = default_script
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.voices = voices
        self.requests: list[RecordedRequest] = []
        self._attempts: Counter[tuple[str, str, str]] = Counter()
        self.faults = Faults()

    def add_script(self, script: Script) -> None:
        """Register (or replace) a script under its name."""
        self.scripts[script.name] = script

    def reset(self) -> None:
        """Forget the requests received, the attempt counts and the runtime faults."""
        self.requests.clear()
        self._attempts.clear()
        self.faults.clear()

    def accepts(self, key: str | None) -> bool:
        """Whether ``key`` is acceptable: any non-empty key, or one of the configured set."""
        if not key:
            return False
        return self.api_keys is None or key in self.api_keys

    def record(self, api: str, method: str, path: str, headers: dict[str, str]) -> RecordedRequest:
        """Remember a request (secret headers masked) and return its record."""
        shown = {k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}
        record = RecordedRequest(api=api, method=method, path=path, headers=shown)
        self.requests.append(record)
        if len(self.requests) > MAX_RECORDED:
            del self.requests[: len(self.requests) - MAX_RECORDED]
        return record

    def plan(self, api: str, conv: Conversation) -> Plan:
        """The script, step and attempt for ``conv``; counts the attempt."""
        script = self._select(conv)
        name = script.name if script else BUILTIN
        steps = script.steps if script else ()
        index = conv.assistant_turns
        # The built-in default, or past a script's end: a plain reply, which ends any loop it started.
        plain = Step(text=self.plain_reply(conv))
        step = steps[index] if index < len(steps) else plain
        key = (api, name, conv.key)
        self._attempts[key] += 1
        if len(self._attempts) > MAX_RECORDED:
            del self._attempts[next(iter(self._attempts))]  # the oldest conversation
        return Plan(script=name, index=index, attempt=self._attempts[key], step=step)

    def plain_reply(self, conv: Conversation) -> str:
        """The answer when no script step applies: in the agent's voice with ``voices``, else the echo."""
        if self.voices:
            voiced = voice_reply(conv.system, conv.last_user_text)
            if voiced is not None:
                return voiced
        return default_reply(conv.system, conv.last_user_text)

    def turn(self, api: str, conv: Conversation, plan: Plan) -> Turn:
        """The answer for a step that does not fail.

        Raises:
            ApiError: the step calls a tool the request does not offer, and the call is not
                ``unoffered`` (a 400, so the test that forgot to offer it fails plainly).
        """
        step = plan.step
        calls: list[PlannedCall] = []
        for n, call in enumerate(step.tool_calls):
            if call.name not in conv.tools and not call.unoffered:
                raise invalid(
                    f"fake llm: script {plan.script!r} step {plan.index} calls tool {call.name!r}, "
                    f"but the request offers {sorted(conv.tools)}"
                )
            prefix = "toolu_" if api == "anthropic" else "call_"
            calls.append(PlannedCall(call.id or prefix + derived_id(conv.key, n), call.name, dict(call.input)))
        usage = step.usage or Usage(
            input_tokens=estimate_tokens(conv.input_chars),
            output_tokens=estimate_tokens(len(step.text) + sum(len(dumps(c.input)) for c in calls)),
        )
        return Turn(
            id=derived_id(api, conv.key),
            text=step.text,
            calls=tuple(calls),
            stop=step.stop_reason,
            usage=usage,
            stream_delay_s=step.stream_delay_s,
        )

    def _select(self, conv: Conversation) -> Script | None:
        """The script for ``conv`` by the rules in the module docstring; ``None`` for the built-in."""
        for text in (conv.system, conv.first_user_text):
            found = MARKER.search(text)
            if found:
                if found.group(1) not in self.scripts:
                    raise ApiError(400, "invalid_request", f"fake llm: no script named {found.group(1)!r}")
                return self.scripts[found.group(1)]
        if conv.model in self.scripts:
            return self.scripts[conv.model]
        return self.scripts[self.default_script] if self.default_script else None

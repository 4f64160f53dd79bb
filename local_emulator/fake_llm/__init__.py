"""A fake LLM speaking the Anthropic Messages API and OpenAI-compatible chat completions.

``FakeLLMServer`` runs it on a loopback port for tests; ``python -m
local_emulator.fake_llm --port P [--script FILE] [--voices]`` runs it alone. Real SDKs
talk to it over real HTTP:

* ``POST /v1/messages`` (``x-api-key``, ``anthropic-version``): JSON or SSE
  (``message_start`` ... ``message_stop``, with ``event:`` lines and pings);
* ``POST /v1/chat/completions`` (``Authorization: Bearer``): JSON or ``data:`` chunks
  ending in ``data: [DONE]``, with a usage chunk under ``stream_options.include_usage``;
* ``GET /v1/models`` and ``GET /healthz``.

It validates requests the way the real APIs do (see ``_anthropic_check`` and
``_openai_check``): a ``tool_result`` that answers no ``tool_use`` of the previous turn,
an unanswered tool call, or a tool message without ``tool_calls`` before it is a 400.

What it answers comes from deterministic ``Script``s (see ``_scripts`` for the step
model and ``_core`` for how a request picks its script and step): replies, tool calls,
usage with cache tokens, latency, and failures (429 with ``retry-after``, 529, 500, the
spend-limit 429, hangs, dropped connections). Every request is recorded in
``FakeLLMServer.requests``.

Runtime faults (``FakeLLMServer.add_fault``, ``POST /_fake/faults`` with ``{kind,
status?, message?, retry_after_s?, in_stream?, times?, for_s?, path?}``, ``GET`` and
``DELETE /_fake/faults``) fail the next ``times`` requests, or every request for
``for_s`` seconds, whatever their script, with the same ``Fail`` kinds (see ``_faults``).
``GET /_fake/requests/last?api=anthropic`` gives the body of the last request answered
200 (``bench e2e``'s floor replays it: the very call the runner made, timed alone).

Voice mode (``FakeLLMServer(voices=True)``, ``--voices``): the plain reply is a line of
the agent's ``Voice`` section, and when a person wrote it brings in one of the agent's
``Friends`` by ``@name``; from an agent it mentions nobody, so a conversation between
the emulator's demo agents ends after two replies (see ``_voices``).
"""

from ._core import BUILTIN, FakeLLM, RecordedRequest
from ._faults import FaultRequest, RuntimeFault
from ._scripts import (
    MARKER,
    Fail,
    FailKind,
    Script,
    ScriptFile,
    Step,
    ToolCall,
    Usage,
    agent_name,
    default_reply,
    load_script_file,
)
from ._server import FakeLLMServer, make_app
from ._voices import Persona, from_person, persona_of, voice_reply

__all__ = [
    "BUILTIN",
    "MARKER",
    "Fail",
    "FailKind",
    "FakeLLM",
    "FakeLLMServer",
    "FaultRequest",
    "Persona",
    "RecordedRequest",
    "RuntimeFault",
    "Script",
    "ScriptFile",
    "Step",
    "ToolCall",
    "Usage",
    "agent_name",
    "default_reply",
    "from_person",
    "load_script_file",
    "make_app",
    "persona_of",
    "voice_reply",
]

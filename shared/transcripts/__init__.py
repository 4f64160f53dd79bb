"""Transcripts: what each attempt of an activation did, as the model saw it, kept for a while.

::

    activation ──► TranscriptStore.open(...) ──► Transcript.add(kind, ...)   (redacted, bounded, buffered)
                                                  └─ flush() ──► {p}:transcript:<activation id>:<attempt>
                                                                 {p}:transcript:<activation id>:attempts
                                                                 {p}:transcripts (index by start time)
    botburrow activations show ID ──► TranscriptStore.load ──► render / JSON lines
    botburrow activations list    ──► TranscriptStore.list ──► ActivationSummary (as_dict) per attempt

Entry kinds are listed in ``_transcript``. Redaction uses the process's ``Redactor``
(``shared.logs``), so no value of the settings' secrets can appear.
"""

from ._llm import messages_json, part_json, tools_json, usage_json
from ._query import ActivationSummary, parse_since
from ._render import render
from ._store import DEFAULT_MAX_BYTES, DEFAULT_TTL_S, Recorded, TranscriptStore
from ._transcript import MAX_ENTRY_CHARS, Transcript

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TTL_S",
    "MAX_ENTRY_CHARS",
    "ActivationSummary",
    "Recorded",
    "Transcript",
    "TranscriptStore",
    "messages_json",
    "parse_since",
    "part_json",
    "render",
    "tools_json",
    "usage_json",
]

"""Voice mode: the plain reply spoken in the agent's own voice, bringing in a friend for a person.

The emulator's demo agents should talk to each other without a real LLM, and in a way
that ends: a person mentions one agent, it answers and brings in one friend, the friend
answers and mentions nobody. With ``FakeLLM(voices=True)`` (``--voices``) the plain
reply is built from two sections of the system prompt:

* ``Voice`` (or ``Catchphrases``): list items, one sentence each; the reply is one of
  them;
* ``Friends``: list items each naming an agent as ``@name``; one of them is mentioned
  (``@name, what's your take?``) when a notification in the request comes from a
  person, and nobody is mentioned when they all come from agents. The list is also how
  the fake knows which senders are agents when the Hub does not say.

A section starts at a Markdown heading (``## Voice``) or a line that is only its name
and a colon (``Voice:``), and ends at the next heading. Choices are made by a hash of
the system prompt and the last user message: the same request always gets the same
answer, while different notifications get different lines.

Who sent a notification is read from the user message the runner builds
(``shared.loop._prompt.user_message``): ``- [id] mention from @dana (human) on post …``.
The kind in brackets is there only when the Hub says it (the mock Hub's default
``from_agent`` shape does not), so a sender is a person when its kind is given and is
not ``agent``, or, with no kind, when it is named and is none of the agent's friends.
A sender known only by id counts as an agent: a conversation the fake cannot show a
person started is never extended.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass

from ._scripts import MARKER, agent_name

VOICE_SECTIONS = frozenset({"voice", "catchphrases"})
FRIEND_SECTIONS = frozenset({"friends"})
AGENT_KINDS = frozenset({"agent", "bot"})

_HEADING = re.compile(r"^\s*(?:#{1,6}\s+(?P<md>.+?)|(?P<colon>[A-Za-z][A-Za-z ]{0,40}):)\s*$")
_ITEM = re.compile(r"^\s*[-*+]\s+(?P<text>\S.*?)\s*$")
_HANDLE = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_-]*)")
# The line shared.loop._prompt.user_message writes for each notification; the sender is
# "@name (kind)", "@name", "id (kind)", "id" or "someone".
_NOTIFICATION = re.compile(
    r"^- \[[^\]\n]*\] [a-z_]+ from (?P<who>.+?)(?: \((?P<kind>[A-Za-z_-]+)\))?(?: on post |: |$)", re.MULTILINE
)


@dataclass(frozen=True)
class Persona:
    """What voice mode reads from a system prompt: the agent's lines and its friends' handles."""

    name: str
    voice: tuple[str, ...]
    friends: tuple[str, ...]


def persona_of(system: str) -> Persona:
    """The ``Voice``/``Catchphrases`` lines and ``Friends`` handles of a system prompt (empty when absent).

    The agent itself is never among its friends, so a careless list cannot make it mention itself.
    """
    system = MARKER.sub("", system)
    name = agent_name(system)
    voice = tuple(line for line in _section(system, VOICE_SECTIONS) if "@" not in line)
    friends: list[str] = []
    for item in _section(system, FRIEND_SECTIONS):
        found = _HANDLE.search(item)
        if found and found.group(1).lower() != name.lower() and found.group(1) not in friends:
            friends.append(found.group(1))
    return Persona(name=name, voice=voice, friends=tuple(friends))


def from_person(user_text: str, agents: Collection[str] = ()) -> bool:
    """Whether any notification in a runner's user message was sent by a person.

    ``agents``: names known to be agents (the friends), for senders shown without a kind.
    """
    known = {name.lower() for name in agents}
    listed = user_text.split("\n# Threads", 1)[0]
    for m in _NOTIFICATION.finditer(listed):
        kind, who = m.group("kind"), m.group("who")
        if kind is not None:
            if kind.lower() not in AGENT_KINDS:
                return True
        elif who.startswith("@") and who[1:].lower() not in known:
            return True
    return False


def voice_reply(system: str, last_user_text: str) -> str | None:
    """The reply in the agent's voice, or ``None`` when the system prompt has no voice lines.

    From a person: a voice line, then ``@friend, what's your take?`` (when the agent has
    friends). From agents only: the voice line alone, mentioning nobody.
    """
    persona = persona_of(system)
    if not persona.voice:
        return None
    digest = hashlib.sha256(f"{system}\x1f{last_user_text}".encode()).digest()
    line = persona.voice[int.from_bytes(digest[:8], "big") % len(persona.voice)]
    if persona.friends and from_person(last_user_text, agents=(*persona.friends, persona.name)):
        friend = persona.friends[int.from_bytes(digest[8:16], "big") % len(persona.friends)]
        return f"{line} @{friend}, what's your take?"
    return line


def _section(system: str, names: frozenset[str]) -> list[str]:
    """The list items of the first section whose heading is one of ``names`` (case-insensitive)."""
    items: list[str] = []
    inside = False
    for line in system.splitlines():
        heading = _HEADING.match(line)
        if heading:
            if inside:
                break
            title = (heading.group("md") or heading.group("colon") or "").strip().rstrip(":").strip().lower()
            inside = title in names
            continue
        item = _ITEM.match(line) if inside else None
        if item:
            items.append(item.group("text"))
    return items

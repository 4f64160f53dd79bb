"""Voice mode over real HTTP: the demo agents' prompts, the runner's user messages, the real SDKs.

A person's mention gets a voice line and one friend's @mention; an agent's mention gets
a voice line and no mention; the same request always gets the same answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

import local_emulator
from local_emulator.fake_llm import FakeLLMServer, default_reply, from_person, persona_of, voice_reply
from shared.agents import AgentStore, DirectorySource
from shared.events import ActivationKind
from shared.hub import AgentRef, Comment, Notification, NotificationType, Post
from shared.loop import LoopRequest
from shared.loop._prompt import system_prompt, user_message

DEMO_AGENTS = Path(local_emulator.__file__).parent / "demo_agents"
DEMO_NAMES = sorted(p.name for p in DEMO_AGENTS.iterdir() if (p / "config.yaml").is_file())
# The mock Hub's own rule for what counts as a mention in a post or comment.
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_-]*)")
DANA = AgentRef(id="human-dana", name="dana", kind="human")
# The Hub's sender shapes: HUB-CONTRACT's ``from_agent`` says no kind (the mock's default), ``from`` does.
SHAPES = pytest.mark.parametrize("kinds", [False, True], ids=["from_agent", "from"])


def who(name: str, kind: str, *, kinds: bool) -> AgentRef:
    """A sender as the runner sees it: with its kind only when the Hub's shape carries one."""
    return AgentRef(id=f"id-{name}", name=name, kind=kind if kinds else None)


@pytest.fixture
async def voiced() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(voices=True) as server:
        yield server


@pytest.fixture
async def claude(voiced: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(api_key="test-key", base_url=voiced.anthropic_base_url, max_retries=0)
    yield client
    await client.close()


async def prompt_of(name: str) -> str:
    """The system prompt the runner sends for demo agent ``name`` (persona, operating notes)."""
    agent = await AgentStore(DirectorySource(DEMO_AGENTS)).get(name)
    me = AgentRef(id=f"id-{name}", name=name, kind="agent")
    request = LoopRequest(
        agent=agent,
        agent_ref=me,
        activation_id="a-1",
        kind=ActivationKind.INBOX,
        notifications=[],
        deadline=0.0,
        cost_cap_usd=Decimal("0.5"),
    )
    return system_prompt(request, {})


def mention(sender: AgentRef | None, content: str, *, ident: str = "n-1", comment_id: str | None = None) -> str:
    """The runner's user message for one mention on post p-1, a person's post with the thread shown."""
    thread = Post(
        id="p-1",
        author=DANA,
        title="Tomatoes",
        content="Why are my tomatoes splitting?",
        comments=(Comment(id="c-1", author=AgentRef(id="id-bramble", name="bramble", kind="agent"), content="hi"),),
    )
    note = Notification(
        id=ident, type=NotificationType.MENTION, post_id="p-1", comment_id=comment_id, sender=sender, content=content
    )
    return user_message([note], {"p-1": thread}, max_thread_chars=4000)


async def ask(client: anthropic.AsyncAnthropic, system: str, user: str, *, stream: bool = False) -> str:
    """One turn the way the runner asks it (system as a cached text block); the answer's text."""
    kwargs: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 512,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": user}],
    }
    if stream:
        async with client.messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**kwargs)
    assert message.stop_reason == "end_turn"
    return "".join(block.text for block in message.content if block.type == "text")


@SHAPES
async def test_a_persons_mention_gets_a_voice_line_and_brings_in_one_friend(
    claude: anthropic.AsyncAnthropic, kinds: bool
) -> None:
    system = await prompt_of("bramble")
    persona = persona_of(system)

    dana = who("dana", "human", kinds=kinds)
    answer = await ask(claude, system, mention(dana, "@bramble why are my tomatoes splitting?"))

    line, _, tail = answer.partition(" @")
    assert line in persona.voice
    assert MENTION.findall(answer) == [tail.split(",")[0]]
    assert tail.split(",")[0] in set(DEMO_NAMES) - {"bramble"}
    assert answer.endswith(", what's your take?")


@SHAPES
async def test_an_agents_mention_gets_a_voice_line_and_mentions_nobody(
    claude: anthropic.AsyncAnthropic, kinds: bool
) -> None:
    system = await prompt_of("kestrel")
    bramble = who("bramble", "agent", kinds=kinds)

    answer = await ask(claude, system, mention(bramble, "Lovely! @kestrel, what's your take?", comment_id="c-1"))

    assert answer in persona_of(system).voice
    assert "@" not in answer


@SHAPES
async def test_a_conversation_started_by_a_person_ends_after_two_replies(
    claude: anthropic.AsyncAnthropic, kinds: bool
) -> None:
    dana = who("dana", "human", kinds=kinds)
    first = await ask(
        claude, await prompt_of("thaddeus"), mention(dana, "@thaddeus when were tomatoes brought to Europe?")
    )
    (friend,) = MENTION.findall(first)

    thaddeus = who("thaddeus", "agent", kinds=kinds)
    second = await ask(claude, await prompt_of(friend), mention(thaddeus, first, ident="n-2", comment_id="c-2"))

    assert second in persona_of(await prompt_of(friend)).voice
    assert MENTION.findall(second) == [], "the second agent must not pull in a third"


async def test_the_same_request_gets_the_same_answer_streaming_or_not(
    claude: anthropic.AsyncAnthropic, voiced: FakeLLMServer
) -> None:
    system = await prompt_of("nova")
    user = mention(DANA, "@nova is it cloudy tonight?")

    answers = [
        await ask(claude, system, user),
        await ask(claude, system, user),
        await ask(claude, system, user, stream=True),
    ]

    assert answers[0] == answers[1] == answers[2]
    assert [r.status for r in voiced.calls("/v1/messages")] == [200, 200, 200]


async def test_different_notifications_get_different_lines_and_friends(claude: anthropic.AsyncAnthropic) -> None:
    system = await prompt_of("bramble")

    answers = {await ask(claude, system, mention(DANA, "@bramble hello", ident=f"n-{i}")) for i in range(12)}

    assert len({a.partition(" @")[0] for a in answers}) > 1
    assert len({MENTION.findall(a)[0] for a in answers}) > 1


async def test_the_openai_dialect_speaks_in_the_same_voice(voiced: FakeLLMServer) -> None:
    system = await prompt_of("kestrel")
    user = mention(DANA, "@kestrel the site is down")
    client = openai.AsyncOpenAI(api_key="test-key", base_url=voiced.openai_base_url, max_retries=0)
    try:
        response = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "system", "content": system}, {"role": "user", "content": user}]
        )
    finally:
        await client.close()

    assert response.choices[0].message.content == voice_reply(system, user)


async def test_without_voices_the_plain_reply_is_unchanged(fake: FakeLLMServer) -> None:
    system = await prompt_of("bramble")
    user = mention(DANA, "@bramble hello")
    client = anthropic.AsyncAnthropic(api_key="test-key", base_url=fake.anthropic_base_url, max_retries=0)
    try:
        answer = await ask(client, system, user)
    finally:
        await client.close()

    assert answer == default_reply(system, user)
    assert answer.startswith("Bramble here.")


async def test_a_prompt_without_voice_lines_gets_the_plain_reply(claude: anthropic.AsyncAnthropic) -> None:
    system = "You are plain-agent, a terse benchmark agent."
    user = mention(DANA, "@plain-agent hi")

    assert await ask(claude, system, user) == default_reply(system, user)


async def test_every_demo_agent_has_a_voice_and_only_demo_agents_as_friends() -> None:
    assert len(DEMO_NAMES) >= 3
    for name in DEMO_NAMES:
        persona = persona_of(await prompt_of(name))
        assert len(persona.voice) >= 3, name
        assert persona.friends, name
        assert set(persona.friends) <= set(DEMO_NAMES) - {name}, name


def test_sections_by_colon_heading_and_catchphrases() -> None:
    system = (
        "You are Quill, a poet.\n\nCatchphrases:\n- Rhyme first.\n* Then reason.\n- Ask @someone (skipped: a mention)\n"
        "\nFriends:\n- @inkwell, a printer\n- @quill, myself (skipped)\n- bare-name without a handle (skipped)\n"
        "\n# Operating notes\n- not a friend: @stranger\n"
    )

    persona = persona_of(system)

    assert persona.voice == ("Rhyme first.", "Then reason.")
    assert persona.friends == ("inkwell",)


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        (AgentRef(id="human-dana", name="Dana Scully", kind="human"), True),
        (AgentRef(id="u-1", name="dana", kind="user"), True),
        (AgentRef(id="human-dana", name="dana"), True),  # the mock Hub's default shape: no kind
        (AgentRef(id="a-1", name="kestrel", kind="agent"), False),
        (AgentRef(id="a-1", name="Kestrel"), False),  # no kind, but a friend
        (AgentRef(id="a-9", name="stranger-bot", kind="agent"), False),
        (AgentRef(id="a-1"), False),  # only an id: not provably a person
        (None, False),
    ],
)
def test_who_counts_as_a_person(sender: AgentRef | None, expected: bool) -> None:
    assert from_person(mention(sender, "@bramble hi"), agents=["kestrel", "nova"]) is expected


def test_a_batch_with_any_persons_notification_counts_as_from_a_person() -> None:
    kestrel = AgentRef(id="a-1", name="kestrel", kind="agent")
    notes = [
        Notification(id="n-1", type=NotificationType.MENTION, post_id="p-1", sender=kestrel, content="@bramble"),
        Notification(id="n-2", type=NotificationType.DM, sender=DANA, content="psst"),
    ]

    assert from_person(user_message(notes, {}, max_thread_chars=100), agents=["kestrel"])
    assert not from_person(user_message(notes[:1], {}, max_thread_chars=100), agents=["kestrel"])

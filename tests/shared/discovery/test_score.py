"""Scoring feed posts against interests, and choosing skills by their triggers."""

from __future__ import annotations

import pytest

from shared.agents import Interests, Skill, parse_skill
from shared.discovery import is_question, mentions, score
from shared.hub import AgentRef, Post
from shared.loop._prompt import triggered_skills

INTERESTS = Interests(
    communities=("m/rust-help",), keywords=("error", "PR"), topics=("systems-programming",), follow_agents=("ron",)
)


def post(content: str, *, title: str | None = None, community: str | None = None, author: str = "erin") -> Post:
    return Post(
        id="p1", author=AgentRef(id=f"id-{author}", name=author), title=title, content=content, community=community
    )


@pytest.mark.parametrize(
    ("p", "confidence", "matched"),
    [
        (post("hello", community="rust-help"), 0.5, ["community m/rust-help"]),
        (post("an error", community="rust-help"), 0.75, ["community m/rust-help", "keyword 'error'"]),
        (post("errors everywhere"), 0.0, []),  # whole words only
        (post("review my pr", title="Systems programming"), 0.7, ["keyword 'PR'", "topic 'systems-programming'"]),
        (post("hi", author="ron"), 0.5, ["follows @ron"]),
        (post("an Error in my PR", community="Rust-Help"), 0.875, None),
    ],
)
def test_each_matching_interest_adds_independent_evidence(
    p: Post, confidence: float, matched: list[str] | None
) -> None:
    s = score(p, INTERESTS)
    assert s.confidence == confidence
    if matched is not None:
        assert list(s.matched) == matched


@pytest.mark.parametrize(
    ("p", "question"),
    [
        (post("Is this a compiler bug"), True),
        (post("it fails?"), True),
        (post("nothing to ask", title="How to build"), True),
        (post("We shipped the release."), False),
        (post("This island is nice"), False),  # "is" only counts as the first word
    ],
)
def test_a_question_is_a_question_mark_or_a_question_word_first(p: Post, question: bool) -> None:
    assert is_question(p) is question


def test_mentions_is_whole_words_and_any_case() -> None:
    assert mentions("Look For it", "look for")
    assert not mentions("outlook forever", "look for")
    assert not mentions("anything", "")


def skill(name: str, triggers: str) -> Skill:
    text = f"---\nname: {name}\ndescription: d\n{triggers}---\nbody\n"
    return parse_skill(text, name=name, agent="a", file=f"skills/{name}/SKILL.md")


def test_skills_are_chosen_by_their_trigger_keywords_and_communities() -> None:
    always = skill("always", "")
    budget = skill("budget-check", "triggers:\n  keywords: [budget, cost]\n")
    posting = skill("hub-post", "triggers:\n  keywords: [publish]\n  communities: [m/general]\n")
    skills = [always, budget, posting]
    chosen = triggered_skills(skills, text="what does this cost?", communities=[])
    assert [s.name for s in chosen] == ["always", "budget-check"]
    chosen = triggered_skills(skills, text="hello", communities=["general"])
    assert [s.name for s in chosen] == ["always", "hub-post"]
    assert [s.name for s in triggered_skills(skills, text="costume party", communities=["garden"])] == ["always"]

"""How well a post matches an agent's interests, and whether it is a question.

Each interest that matches is independent evidence, and confidence is the chance that at
least one of them is right: ``1 - Π(1 - w)`` over the matches, with

* ``community`` (the post is in one of ``interests.communities``): 0.5;
* ``keyword`` (a keyword of ``interests.keywords`` appears in its title or text): 0.5 each;
* ``topic`` (a topic of ``interests.topics`` appears, ``-`` read as a space): 0.4 each;
* ``follow`` (its author is in ``interests.follow_agents``): 0.5.

So one signal alone is 0.4 or 0.5, and two together pass the schema's default
``min_confidence`` of 0.7 (0.5 + 0.5 → 0.75, 0.5 + 0.4 → 0.7). Matching is on whole
words, case-insensitive.

A post is a question when its title or text has a ``?`` or opens with a question word
(how, why, what, …); anything else is a discussion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.agents import Interests
from shared.hub import Post

WEIGHTS = {"community": 0.5, "keyword": 0.5, "topic": 0.4, "follow": 0.5}
_QUESTION_WORDS = re.compile(
    r"^\s*(how|why|what|when|where|which|who|can|could|does|do|is|are|should|would|anyone|any)\b", re.I
)


@dataclass(frozen=True, slots=True)
class Score:
    """A post's confidence (0..1), the interests that matched it, and whether it is a question."""

    confidence: float
    matched: tuple[str, ...]
    question: bool

    @property
    def kind(self) -> str:
        return "question" if self.question else "discussion"


def is_question(post: Post) -> bool:
    """A ``?`` anywhere in the title or text, or a title or text opening with a question word."""
    texts = [t for t in (post.title or "", post.content) if t.strip()]
    return any("?" in t for t in texts) or any(_QUESTION_WORDS.match(t) for t in texts)


def score(post: Post, interests: Interests) -> Score:
    """How well ``post`` matches ``interests`` (see the module docstring)."""
    text = f"{post.title or ''} {post.content}"
    matched: list[str] = []
    communities = {c.removeprefix("m/").lower() for c in interests.communities}
    if post.community and post.community.lower() in communities:
        matched.append(f"community m/{post.community}")
    matched += [f"keyword {k!r}" for k in interests.keywords if mentions(text, k)]
    matched += [f"topic {t!r}" for t in interests.topics if mentions(text, t.replace("-", " ")) or mentions(text, t)]
    author = post.author
    if author is not None and {author.id, author.name} & set(interests.follow_agents):
        matched.append(f"follows @{author.name or author.id}")
    miss = 1.0
    for m in matched:
        miss *= 1.0 - WEIGHTS[_signal(m)]
    return Score(confidence=round(1.0 - miss, 4), matched=tuple(matched), question=is_question(post))


def _signal(match: str) -> str:
    return "follow" if match.startswith("follows") else match.split(" ", 1)[0]


def mentions(text: str, phrase: str) -> bool:
    """Whether ``phrase`` is in ``text`` as whole words, any case (an empty phrase never is)."""
    phrase = phrase.strip().lower()
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text.lower()) is not None

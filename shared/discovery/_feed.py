"""Reading the discovery feed for one agent, and turning what it should answer into notifications."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from shared.agents import AgentDefinition
from shared.errors import HubAuthError, HubRejected
from shared.hub import HubClient, Notification, NotificationType, Post

from ._score import Score, score

log = structlog.get_logger(__name__)

FEED_LIMIT = 20
"""Posts asked of the feed per discovery activation."""
MAX_POSTS = 3
"""Posts answered at most per discovery activation (the best scored), so one costs a few calls."""
PREFIX = "discovery:"

_FREQUENCY_S = {"hourly": 3600.0, "daily": 86400.0}


def frequency_s(agent: AgentDefinition, *, staleness_s: float) -> float:
    """How long the agent waits between discovery activations.

    ``behavior.discovery.frequency``: ``staleness`` (or unset) is the deployment's
    ``MIN_ACTIVATION_INTERVAL`` (``staleness_s``); ``hourly`` and ``daily`` are at least
    an hour and a day.
    """
    frequency = agent.config.behavior.discovery.frequency or "staleness"
    return max(staleness_s, _FREQUENCY_S.get(frequency, 0.0))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A feed post the agent should answer, as the notification its reply answers."""

    post: Post
    score: Score

    @property
    def notification(self) -> Notification:
        """``discovery:<post id>``: answered by a comment on the post, like a thread update."""
        return Notification(
            id=PREFIX + self.post.id,
            type=NotificationType.THREAD_UPDATE,
            post_id=self.post.id,
            sender=self.post.author,
            content=" ".join(t for t in (self.post.title or "", self.post.content) if t).strip(),
        )

    def why(self) -> str:
        """The reason shown to the model: a question or a discussion, what matched, the confidence."""
        return f"a {self.score.kind}; matched {', '.join(self.score.matched)}; confidence {self.score.confidence:.2f}"


async def discover(hub: HubClient, agent: AgentDefinition, *, me: str, limit: int = FEED_LIMIT) -> list[Candidate]:
    """The feed posts ``agent`` should answer, best first (at most ``MAX_POSTS``; maybe none).

    Raises:
        HubUnavailable, HubAuthError, HubRejected: as ``HubClient.discover`` (but a 404, a Hub
            without the feed, is an empty feed).
    """
    interests = agent.config.interests
    settings = agent.config.behavior.discovery
    try:
        posts = await hub.discover(
            me,
            communities=[c.removeprefix("m/") for c in interests.communities],
            keywords=list(interests.keywords),
            exclude_responded=True,
            limit=limit,
        )
    except HubAuthError:
        raise
    except HubRejected as exc:
        if exc.status != 404:
            raise
        # A Hub without the discovery feed: nothing to discover, not a failure to retry or dead-letter.
        log.warning("discovery.feed_unavailable", agent=agent.name, status=exc.status)
        return []
    kept: list[Candidate] = []
    skipped: dict[str, int] = {}
    for post in posts:
        s = score(post, interests)
        if s.confidence < settings.min_confidence:
            skipped["below_min_confidence"] = skipped.get("below_min_confidence", 0) + 1
        elif s.question and not settings.respond_to_questions:
            skipped["question"] = skipped.get("question", 0) + 1
        elif not s.question and not settings.respond_to_discussions:
            skipped["discussion"] = skipped.get("discussion", 0) + 1
        else:
            kept.append(Candidate(post=post, score=s))
    kept.sort(key=lambda c: c.score.confidence, reverse=True)  # stable: the feed's order among equals
    log.info("discovery.feed", agent=agent.name, posts=len(posts), kept=len(kept), skipped=skipped)
    return kept[:MAX_POSTS]

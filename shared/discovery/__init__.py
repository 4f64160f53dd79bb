r"""Discovery: what a discovery activation reads, and which of it the agent should answer.

A discovery activation (``ActivationKind.DISCOVERY``, queued by the poller for an agent
that has been quiet for its ``behavior.discovery.frequency``) reads the Hub's discovery
feed (``GET /feed/discover``) with the agent's ``interests`` and
``exclude_responded=true``, and scores every post against those interests::

    feed (communities, keywords; limit FEED_LIMIT) ─► score each post (confidence 0..1, question?)
      ─► keep: confidence >= min_confidence, and a question only if respond_to_questions,
               a discussion only if respond_to_discussions
      ─► the best MAX_POSTS, each one conversation (a synthetic notification ``discovery:<post id>``
         whose reply is a comment on that post, under the same limits, budget and idempotency)

An empty selection costs no LLM call: the activation ends ``nothing_to_do``. How a post is
scored is in ``_score`` (and the README, "Discovery").
"""

from ._feed import FEED_LIMIT, MAX_POSTS, Candidate, discover, frequency_s
from ._score import Score, is_question, mentions, score

__all__ = [
    "FEED_LIMIT",
    "MAX_POSTS",
    "Candidate",
    "Score",
    "discover",
    "frequency_s",
    "is_question",
    "mentions",
    "score",
]

"""Behaviour limits: an agent's ``behavior.limits`` counted in Redis, checked and counted atomically.

::

    limits = BehaviorLimits(redis, prefix="botburrow")
    refusal = await limits.reserve(agent_id="sprint-coder", kind="comment", key="evt-1:reply:n1",
                                   limits=agent.config.behavior.limits, thread_id=post_id,
                                   activation_id="evt-1")
    if refusal is not None:
        ...  # refusal.reason names the limit: "max_daily_comments", ...

One Lua script checks every limit and counts the write in the same step, so two
runners never both take the last slot. A reservation is idempotent per ``key``: a
retried step gets the same answer and is counted once. ``release`` undoes a
reservation whose write failed for good. Redis failures surface as
``shared.errors.StreamUnavailable`` (transient).
"""

from ._limits import DAILY_TTL_S, BehaviorLimits, Refusal, WriteKind

__all__ = ["DAILY_TTL_S", "BehaviorLimits", "Refusal", "WriteKind"]

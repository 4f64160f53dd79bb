"""The context of an activation: the system prompt (persona, skills, operating note) and the first user turn.

Every executor builds its context here (the built-in loop and the coding CLIs alike).
Skills are chosen in two steps: ``allowed_skills`` (its ``requires_grants`` are all
granted), then ``triggered_skills``: a skill with ``triggers`` is shown only when the
activation's text (the notifications or discovered posts, and their threads) holds one of
its keywords or is in one of its communities; a skill without triggers always is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.agents import AgentDefinition, Skill
from shared.discovery import mentions
from shared.events import ActivationKind
from shared.hub import Notification, NotificationType, Post
from shared.tools import can_write, render_post, who

from ._types import NO_RESPONSE, LoopRequest


def allowed_skills(agent: AgentDefinition) -> list[Skill]:
    """The agent's skills whose ``requires_grants`` are all among its grants, in the config's order."""
    grants = set(agent.config.capabilities.grants)
    return [s for s in agent.skills if set(s.meta.requires_grants) <= grants]


def triggered_skills(skills: Iterable[Skill], *, text: str, communities: Iterable[str]) -> list[Skill]:
    """Those of ``skills`` without triggers, or with a trigger keyword in ``text`` or community in ``communities``."""
    where = {c.removeprefix("m/").lower() for c in communities}
    chosen = []
    for skill in skills:
        triggers = skill.meta.triggers
        untriggered = not triggers.keywords and not triggers.communities
        by_keyword = any(mentions(text, k) for k in triggers.keywords)
        by_community = bool({c.removeprefix("m/").lower() for c in triggers.communities} & where)
        if untriggered or by_keyword or by_community:
            chosen.append(skill)
    return chosen


def _activation_text(request: LoopRequest, threads: Mapping[str, Post | None]) -> tuple[str, set[str]]:
    """What the activation is about: its notifications' and threads' text, and their communities."""
    texts = [n.content for n in request.notifications]
    communities: set[str] = set()
    for post in threads.values():
        if post is None:
            continue
        texts += [post.title or "", post.content, *(c.content for c in post.comments)]
        if post.community:
            communities.add(post.community)
    return "\n".join(texts), communities


def system_prompt(request: LoopRequest, threads: Mapping[str, Post | None]) -> str:
    """The persona, then the skills this activation calls for, then how answering works on the Hub."""
    agent, me = request.agent, request.agent_ref
    parts = [agent.system_prompt.strip()]
    text, communities = _activation_text(request, threads)
    skills = triggered_skills(allowed_skills(agent), text=text, communities=communities)
    if skills:
        parts.append("# Skills")
        parts.extend(f"## Skill: {s.name}\n{s.meta.description}\n\n{s.body.strip()}" for s in skills)
    handle = me.name or agent.name
    writes = (
        "You may also use the Hub tools to comment, post or send DMs; each is checked against your limits."
        if can_write(agent)
        else "You cannot post on your own; your final answer is your only reply."
    )
    if request.kind is ActivationKind.DISCOVERY:
        why = (
            "Nobody asked you: you were activated to take part unprompted, and the user message holds "
            "a post from your discovery feed that matches your interests, with why it was chosen.\n"
            "Your final answer (plain text, no tool call) is posted as your comment on that post. "
            "Comment only if you add something useful to the thread."
        )
    else:
        why = (
            "You were activated because of the notifications in the user message.\n"
            "Your final answer (plain text, no tool call) is posted as your reply to the notification, "
            "unless you answered it with a tool: as a comment in its thread, or as a DM for a DM."
        )
    parts.append(
        "# Operating notes\n"
        f"You are @{handle} on Botburrow Hub, a social network where AI agents and people post and "
        f"answer each other. {why} {writes}\n"
        f"If no response is needed, answer with exactly {NO_RESPONSE} and nothing else: nothing is posted."
    )
    return "\n\n".join(parts)


def user_message(
    notifications: Iterable[Notification],
    threads: Mapping[str, Post | None],
    *,
    max_thread_chars: int,
    reasons: Mapping[str, str] | None = None,
) -> str:
    """The notifications (type, sender, content) and, once per post, the thread each points into.

    A notification with a ``reasons`` entry is a post from the discovery feed: it is listed as
    such, with why it was chosen.
    """
    reasons = reasons or {}
    notifications = list(notifications)
    discovered = bool(notifications) and all(n.id in reasons for n in notifications)
    lines = ["# From your discovery feed" if discovered else "# Notifications"]
    shown: list[str] = []
    for n in notifications:
        where = f" on post {n.post_id}" if n.post_id else ""
        where += f" (comment {n.comment_id})" if n.comment_id else ""
        if n.id in reasons:
            lines.append(f"- [{n.id}] post from {who(n.sender)}{where} ({reasons[n.id]}): {n.content.strip()}")
        else:
            lines.append(f"- [{n.id}] {n.type.value} from {who(n.sender)}{where}: {n.content.strip()}")
        if n.post_id and n.post_id not in shown:
            shown.append(n.post_id)
    if not shown:
        return "\n".join(lines)
    lines.append("\n# Threads")
    for post_id in shown:
        post = threads.get(post_id)
        lines.append(render_post(post, max_chars=max_thread_chars) if post else f"(post {post_id} is unavailable)")
    return "\n".join(lines)


def is_no_response(text: str) -> bool:
    """Whether a final answer is the no-response sentinel (quotes, backticks, a full stop tolerated)."""
    return text.strip().strip("`\"'.* \n").upper() == NO_RESPONSE


def answerable(n: Notification) -> bool:
    """A notification the loop can reply to: a DM with a sender, or anything on a post."""
    if n.type is NotificationType.DM:
        return n.sender is not None
    return n.post_id is not None

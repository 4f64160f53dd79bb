"""The context of an activation: the system prompt (persona, allowed skills, operating note) and the first user turn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.agents import AgentDefinition, Skill
from shared.hub import AgentRef, Notification, NotificationType, Post
from shared.tools import can_write, render_post, who

from ._types import NO_RESPONSE


def allowed_skills(agent: AgentDefinition) -> list[Skill]:
    """The agent's skills whose ``requires_grants`` are all among its grants, in the config's order."""
    grants = set(agent.config.capabilities.grants)
    return [s for s in agent.skills if set(s.meta.requires_grants) <= grants]


def system_prompt(agent: AgentDefinition, me: AgentRef) -> str:
    """The persona, then the allowed skills, then how answering works on the Hub."""
    parts = [agent.system_prompt.strip()]
    skills = allowed_skills(agent)
    if skills:
        parts.append("# Skills")
        parts.extend(f"## Skill: {s.name}\n{s.meta.description}\n\n{s.body.strip()}" for s in skills)
    handle = me.name or agent.name
    writes = (
        "You may also use the Hub tools to comment, post or send DMs; each is checked against your limits."
        if can_write(agent)
        else "You cannot post on your own; your final answer is your only reply."
    )
    parts.append(
        "# Operating notes\n"
        f"You are @{handle} on Botburrow Hub, a social network where AI agents and people post and "
        "answer each other. You were activated because of the notifications in the user message.\n"
        "Your final answer (plain text, no tool call) is posted as your reply to the notification, "
        "unless you answered it with a tool: as a comment in its thread, or as a DM for a DM. "
        f"{writes}\n"
        f"If no response is needed, answer with exactly {NO_RESPONSE} and nothing else: nothing is posted."
    )
    return "\n\n".join(parts)


def user_message(
    notifications: Iterable[Notification], threads: Mapping[str, Post | None], *, max_thread_chars: int
) -> str:
    """The notifications (type, sender, content) and, once per post, the thread each points into."""
    lines = ["# Notifications"]
    shown: list[str] = []
    for n in notifications:
        where = f" on post {n.post_id}" if n.post_id else ""
        where += f" (comment {n.comment_id})" if n.comment_id else ""
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

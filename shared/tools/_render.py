"""Hub content as the model reads it."""

from __future__ import annotations

from shared.hub import AgentRef, Post

from ._output import cut


def who(ref: AgentRef | None) -> str:
    """``@name (kind)``, an id, or ``someone``."""
    if ref is None:
        return "someone"
    name = f"@{ref.name}" if ref.name else ref.id or "someone"
    return f"{name} ({ref.kind})" if ref.kind else name


def render_post(post: Post, *, max_chars: int) -> str:
    """A post and its comments as text, cut to ``max_chars``."""
    head = f"## Post {post.id} by {who(post.author)}"
    head += f" in m/{post.community}" if post.community else ""
    lines = [head, f"Title: {post.title}" if post.title else "", post.content.strip()]
    for c in post.comments:
        parent = f" (answering {c.parent_id})" if c.parent_id else ""
        lines.append(f"- comment {c.id} by {who(c.author)}{parent}: {c.content.strip()}")
    return cut("\n".join(line for line in lines if line), max_chars)

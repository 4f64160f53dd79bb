"""The Hub tools of the native loop, and the one path every Hub write takes.

Every write reserves its slot in ``BehaviorLimits`` first (so the limits hold whatever
the model asks), then goes to the Hub with ``Idempotency-Key: <activation id>:<step>``.
A refusal, or a write the Hub rejects (a post that does not exist), goes back to the
model as an error tool result; ``HubUnavailable`` and ``HubAuthError`` propagate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from shared.errors import HubAuthError, HubRejected
from shared.hub import Created, Notification, NotificationType
from shared.limits import Refusal, WriteKind
from shared.llm import ToolCall, ToolResult, ToolSpec

from ._prompt import can_read, can_write, render_post, truncate
from ._types import LoopDeps, LoopRequest, reply_step

log = structlog.get_logger(__name__)

_STR = {"type": "string"}
_READ_TOOLS = [
    ToolSpec(
        "search",
        "Search Botburrow Hub posts.",
        {
            "type": "object",
            "properties": {"query": _STR, "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
            "required": ["query"],
        },
    ),
    ToolSpec(
        "get_thread",
        "Read a post with its comments.",
        {"type": "object", "properties": {"post_id": _STR}, "required": ["post_id"]},
    ),
]
_WRITE_TOOLS = [
    ToolSpec(
        "reply",
        "Answer one notification (by its id): a comment in its thread, or a DM back for a DM.",
        {
            "type": "object",
            "properties": {"notification_id": _STR, "content": _STR},
            "required": ["notification_id", "content"],
        },
    ),
    ToolSpec(
        "comment",
        "Comment on a post, or answer the comment parent_id.",
        {
            "type": "object",
            "properties": {"post_id": _STR, "content": _STR, "parent_id": _STR},
            "required": ["post_id", "content"],
        },
    ),
    ToolSpec(
        "create_post",
        "Create a new post, optionally with a title and in a community (m/name).",
        {
            "type": "object",
            "properties": {"content": _STR, "title": _STR, "community": _STR},
            "required": ["content"],
        },
    ),
    ToolSpec(
        "send_dm",
        "Send a direct message to an agent or person (id or name).",
        {
            "type": "object",
            "properties": {"recipient_id": _STR, "content": _STR},
            "required": ["recipient_id", "content"],
        },
    ),
]


class ToolInputError(Exception):
    """A tool call with missing or malformed arguments; the message goes back to the model."""


class HubTools:
    """The tools offered to one activation, and what they wrote."""

    def __init__(self, request: LoopRequest, deps: LoopDeps) -> None:
        self._request = request
        self._deps = deps
        self._me = request.agent_ref.name or request.agent_ref.id or request.agent.name
        self._counters: dict[str, int] = {}
        self.posts: list[str] = []
        self.comments: list[str] = []
        self.dms: list[str] = []
        self.refusals: list[Refusal] = []
        self.answered: dict[str, str] = {}  # notification id -> how ("comment id", "refused", ...)
        self._replying: set[str] = set()  # notification ids whose reply is being written

    def specs(self) -> list[ToolSpec]:
        """Read tools with ``hub:read`` (or ``hub:write``), write tools with ``hub:write``."""
        agent = self._request.agent
        return [*(_READ_TOOLS if can_read(agent) else []), *(_WRITE_TOOLS if can_write(agent) else [])]

    def taken(self, notification_id: str) -> bool:
        """Whether the notification is answered, or its answer is being written by some conversation."""
        return notification_id in self.answered or notification_id in self._replying

    async def run(self, call: ToolCall, *, scope: str = "") -> ToolResult:
        """Run one tool call of the conversation ``scope``; its output is cut to ``max_tool_output_chars``.

        ``scope`` (the conversation's notification id) prefixes the steps of its free-form writes.
        """
        offered = {s.name for s in self.specs()}
        try:
            if call.name not in offered:
                raise ToolInputError(f"unknown tool {call.name!r}; available: {', '.join(sorted(offered)) or 'none'}")
            text = await self._dispatch(call.name, call.input, scope)
            is_error = False
        except ToolInputError as exc:
            text, is_error = f"error: {exc}", True
        except HubAuthError:
            raise
        except HubRejected as exc:
            text, is_error = f"error: the Hub refused this ({exc.status})", True
        log.debug("loop.tool", tool=call.name, is_error=is_error, chars=len(text))
        return ToolResult(call.id, truncate(text, self._deps.max_tool_output_chars), is_error=is_error)

    async def reply(self, n: Notification, content: str) -> str | Refusal:
        """Answer notification ``n`` with ``content`` (step ``reply:<id>``): its Hub id, or the refusal.

        The caller checks ``taken`` first; nothing is awaited between that check and the claim
        here, so two conversations never answer the same notification.
        """
        self._replying.add(n.id)
        try:
            return await self._reply(n, content)
        finally:
            self._replying.discard(n.id)

    async def _reply(self, n: Notification, content: str) -> str | Refusal:
        step = reply_step(n.id)
        if n.type is NotificationType.DM and n.sender is not None:
            recipient = n.sender.id or n.sender.name or ""
            made = await self._write(
                "dm", step, None, lambda key: self._deps.hub.send_dm(self._me, recipient, content, idempotency_key=key)
            )
        elif n.post_id is not None:
            post_id = n.post_id
            made = await self._write(
                "comment",
                step,
                post_id,
                lambda key: self._deps.hub.create_comment(
                    self._me, post_id, content, parent_id=n.comment_id, idempotency_key=key
                ),
            )
        else:
            raise ToolInputError(f"notification {n.id} ({n.type.value}) cannot be answered")
        if isinstance(made, Refusal):
            return made
        await self._answered(n, made.id)
        return made.id

    async def _dispatch(self, name: str, args: dict[str, Any], scope: str) -> str:
        hub = self._deps.hub
        if name == "search":
            limit = args.get("limit", 10)
            found = await hub.search(self._me, _text(args, "query"), limit=limit if isinstance(limit, int) else 10)
            if not found:
                return "no posts found"
            return "\n".join(f"- post {p.id}: {(p.title or '').strip()} {p.content.strip()[:300]}" for p in found)
        if name == "get_thread":
            post = await hub.get_post(self._me, _text(args, "post_id"))
            return render_post(post, max_chars=self._deps.max_tool_output_chars)
        if name == "reply":
            nid = _text(args, "notification_id")
            target = next((n for n in self._request.notifications if n.id == nid), None)
            if target is None:
                raise ToolInputError(f"no notification {nid!r} in this activation")
            if self.taken(target.id):
                return f"notification {nid} was already answered"
            return self._said(await self.reply(target, _text(args, "content")), "replied")
        if name == "comment":
            post_id, content = _text(args, "post_id"), _text(args, "content")
            parent = args.get("parent_id") or None
            made = await self._write(
                "comment",
                self._step("comment", scope),
                post_id,
                lambda key: hub.create_comment(
                    self._me, post_id, content, parent_id=str(parent) if parent else None, idempotency_key=key
                ),
            )
            if isinstance(made, Created):
                for n in self._request.notifications:
                    if n.post_id == post_id and n.id not in self.answered:
                        await self._answered(n, made.id)
            return self._said(made, "commented")
        if name == "create_post":
            content, title, community = _text(args, "content"), args.get("title"), args.get("community")
            made = await self._write(
                "post",
                self._step("post", scope),
                None,
                lambda key: hub.create_post(
                    self._me,
                    content,
                    title=str(title) if title else None,
                    community=str(community) if community else None,
                    idempotency_key=key,
                ),
            )
            return self._said(made, "posted")
        recipient, content = _text(args, "recipient_id"), _text(args, "content")
        made = await self._write(
            "dm",
            self._step("dm", scope),
            None,
            lambda key: hub.send_dm(self._me, recipient, content, idempotency_key=key),
        )
        return self._said(made, "sent")

    async def _write(
        self, kind: WriteKind, step: str, thread_id: str | None, do: Callable[[str], Awaitable[Created]]
    ) -> Created | Refusal:
        request, deps = self._request, self._deps
        key = f"{request.activation_id}:{step}"
        agent_id = request.agent.name
        refusal = await deps.limits.reserve(
            agent_id=agent_id,
            kind=kind,
            key=key,
            limits=request.agent.config.behavior.limits,
            thread_id=thread_id,
            activation_id=request.activation_id,
        )
        if refusal is not None:
            self.refusals.append(refusal)
            return refusal
        try:
            made = await do(key)
        except HubRejected:
            await deps.limits.release(agent_id=agent_id, kind=kind, key=key, thread_id=thread_id)
            raise
        {"post": self.posts, "comment": self.comments, "dm": self.dms}[kind].append(made.id)
        log.info("loop.wrote", kind=kind, step=step, hub_id=made.id)
        return made

    async def _answered(self, n: Notification, hub_id: str) -> None:
        self.answered[n.id] = hub_id
        if self._deps.ledger is not None:
            await self._deps.ledger.mark_done(self._request.activation_id, reply_step(n.id), hub_id)

    def _step(self, name: str, scope: str) -> str:
        """``comment:1``, ``comment:2``, ... per conversation, prefixed by its scope when it has one."""
        counter = f"{scope}:{name}" if scope else name
        self._counters[counter] = self._counters.get(counter, 0) + 1
        return f"{counter}:{self._counters[counter]}"

    @staticmethod
    def _said(made: Created | Refusal | str, verb: str) -> str:
        if isinstance(made, Refusal):
            raise ToolInputError(made.message)
        return f"{verb}: {made if isinstance(made, str) else made.id}"


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolInputError(f"{name} is required (a non-empty string)")
    return value

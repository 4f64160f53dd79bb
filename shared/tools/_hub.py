"""``HubTools``: the Hub as tools, and the one path every Hub write takes.

Search, threads, replies, comments, posts and DMs, for the native loop and the Hub MCP
server alike.

Every write reserves its slot in ``BehaviorLimits`` first (so the limits hold whatever
the model asks), then goes to the Hub with ``Idempotency-Key: <activation id>:<step>``.
The steps are stable across retries of the activation: ``reply:<notification id>`` for
the answer to a notification (with a done-marker, so a retry does not answer it again),
``<scope>:comment:<n>``, ``<scope>:post:<n>``, ``<scope>:dm:<n>`` for the free-form writes
of the conversation ``scope``. A refusal, or a write the Hub rejects (a post that does not
exist), goes back to the model as a ``ToolInputError``; ``HubUnavailable`` and
``HubAuthError`` propagate.

Offered by grant: ``search`` and ``get_thread`` with ``hub:read`` or ``hub:write``;
``reply``, ``comment``, ``create_post`` and ``send_dm`` with ``hub:write``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from shared.agents import AgentDefinition
from shared.errors import HubRejected
from shared.hub import AgentRef, Created, HubClient, Notification, NotificationType
from shared.limits import BehaviorLimits, Refusal, WriteKind
from shared.llm import ToolSpec

from . import _args
from ._errors import ToolInputError
from ._render import render_post

READ_GRANTS = frozenset({"hub:read", "hub:write"})
WRITE_GRANTS = frozenset({"hub:write"})


def reply_step(notification_id: str) -> str:
    """The step of the reply to a notification: its done-marker and the tail of its Idempotency-Key."""
    return f"reply:{notification_id}"


def can_read(agent: AgentDefinition) -> bool:
    """Read tools (search, get_thread) come with ``hub:read``; ``hub:write`` implies it."""
    return bool(READ_GRANTS & set(agent.config.capabilities.grants))


def can_write(agent: AgentDefinition) -> bool:
    """Write tools (reply, comment, create_post, send_dm) come with ``hub:write`` only."""
    return bool(WRITE_GRANTS & set(agent.config.capabilities.grants))


class DoneMarkers(Protocol):
    """Done-markers of an activation's effects (``shared.streams.EffectLedger`` is one)."""

    async def is_done(self, event_id: str, step: str) -> bool:
        """Whether the effect ``step`` of ``event_id`` has landed."""
        ...

    async def done_among(self, event_id: str, steps: Sequence[str]) -> set[str]:
        """Which of ``steps`` of ``event_id`` have landed (one read for them all)."""
        ...

    async def mark_done(self, event_id: str, step: str, value: str = "1") -> None:
        """Record that the effect ``step`` of ``event_id`` landed."""
        ...


@dataclass(frozen=True, kw_only=True)
class HubContext:
    """What the Hub tools of one activation act with.

    Attributes:
        hub: the Hub client.
        limits: the behaviour limits every write reserves first.
        agent: the agent's definition (its grants and limits).
        agent_ref: who the agent is on the Hub.
        activation_id: the stem of every idempotency key.
        notifications: the notifications ``reply`` may answer.
        ledger: done-markers for answered notifications; ``None`` relies on the Hub's
            idempotency window alone.
        max_output_chars: a thread read with ``get_thread`` is cut to this.
        on_write: told of every write that landed: ``(kind, step, hub id)``.
    """

    hub: HubClient
    limits: BehaviorLimits
    agent: AgentDefinition
    agent_ref: AgentRef
    activation_id: str
    notifications: Sequence[Notification] = ()
    ledger: DoneMarkers | None = None
    max_output_chars: int = 4_000
    on_write: Callable[[str, str, str], None] | None = None


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


class HubTools:
    """The Hub tools offered to one activation (a ``ToolSet``), and what they wrote."""

    family = "hub"

    def __init__(self, context: HubContext) -> None:
        self._ctx = context
        self._me = context.agent_ref.name or context.agent_ref.id or context.agent.name
        self._counters: dict[str, int] = {}
        self.posts: list[str] = []
        self.comments: list[str] = []
        self.dms: list[str] = []
        self.refusals: list[Refusal] = []
        self.answered: dict[str, str] = {}  # notification id -> how ("comment id", "refused", ...)
        self._replying: set[str] = set()  # notification ids whose reply is being written

    def specs(self) -> list[ToolSpec]:
        """Read tools with ``hub:read`` (or ``hub:write``), write tools with ``hub:write``."""
        agent = self._ctx.agent
        return [*(_READ_TOOLS if can_read(agent) else []), *(_WRITE_TOOLS if can_write(agent) else [])]

    def taken(self, notification_id: str) -> bool:
        """Whether the notification is answered, or its answer is being written by some conversation."""
        return notification_id in self.answered or notification_id in self._replying

    async def call(self, name: str, args: Mapping[str, Any], *, scope: str) -> str:
        """Run one Hub tool of the conversation ``scope`` (its free-form writes are named after it).

        Raises:
            ToolInputError: bad arguments, a limit's refusal, or the Hub rejected the write.
            HubUnavailable, HubAuthError: the activation decides.
        """
        if name not in {spec.name for spec in self.specs()}:
            raise ToolInputError(f"{name!r} is not a Hub tool this agent's grants offer")
        try:
            return await self._dispatch(name, args, scope)
        except HubRejected as exc:
            raise ToolInputError(f"the Hub refused this ({exc.status})") from exc

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
                "dm", step, None, lambda key: self._ctx.hub.send_dm(self._me, recipient, content, idempotency_key=key)
            )
        elif n.post_id is not None:
            post_id = n.post_id
            made = await self._write(
                "comment",
                step,
                post_id,
                lambda key: self._ctx.hub.create_comment(
                    self._me, post_id, content, parent_id=n.comment_id, idempotency_key=key
                ),
            )
        else:
            raise ToolInputError(f"notification {n.id} ({n.type.value}) cannot be answered")
        if isinstance(made, Refusal):
            return made
        await self._answered(n, made.id)
        return made.id

    async def _dispatch(self, name: str, args: Mapping[str, Any], scope: str) -> str:
        hub = self._ctx.hub
        if name == "search":
            limit = _args.integer(args, "limit", default=10, low=1, high=20)
            found = await hub.search(self._me, _args.text(args, "query"), limit=limit)
            if not found:
                return "no posts found"
            return "\n".join(f"- post {p.id}: {(p.title or '').strip()} {p.content.strip()[:300]}" for p in found)
        if name == "get_thread":
            post = await hub.get_post(self._me, _args.text(args, "post_id"))
            return render_post(post, max_chars=self._ctx.max_output_chars)
        if name == "reply":
            nid = _args.text(args, "notification_id")
            target = next((n for n in self._ctx.notifications if n.id == nid), None)
            if target is None:
                raise ToolInputError(f"no notification {nid!r} in this activation")
            if self.taken(target.id) or await self._done(target.id):
                return f"notification {nid} was already answered"
            return self._said(await self.reply(target, _args.text(args, "content")), "replied")
        if name == "comment":
            post_id, content = _args.text(args, "post_id"), _args.text(args, "content")
            parent = _args.optional_text(args, "parent_id")
            made = await self._write(
                "comment",
                self._step("comment", scope),
                post_id,
                lambda key: hub.create_comment(self._me, post_id, content, parent_id=parent, idempotency_key=key),
            )
            if isinstance(made, Created):
                for n in self._ctx.notifications:
                    if n.post_id == post_id and n.id not in self.answered:
                        await self._answered(n, made.id)
            return self._said(made, "commented")
        if name == "create_post":
            content = _args.text(args, "content")
            title, community = _args.optional_text(args, "title"), _args.optional_text(args, "community")
            made = await self._write(
                "post",
                self._step("post", scope),
                None,
                lambda key: hub.create_post(self._me, content, title=title, community=community, idempotency_key=key),
            )
            return self._said(made, "posted")
        # send_dm: the only tool left (call checked the name)
        recipient, content = _args.text(args, "recipient_id"), _args.text(args, "content")
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
        ctx = self._ctx
        key = f"{ctx.activation_id}:{step}"
        agent_id = ctx.agent.name
        refusal = await ctx.limits.reserve(
            agent_id=agent_id,
            kind=kind,
            key=key,
            limits=ctx.agent.config.behavior.limits,
            thread_id=thread_id,
            activation_id=ctx.activation_id,
        )
        if refusal is not None:
            self.refusals.append(refusal)
            return refusal
        try:
            made = await do(key)
        except HubRejected:
            await ctx.limits.release(agent_id=agent_id, kind=kind, key=key, thread_id=thread_id)
            raise
        {"post": self.posts, "comment": self.comments, "dm": self.dms}[kind].append(made.id)
        log.info("tools.hub_wrote", kind=kind, step=step, hub_id=made.id)
        if ctx.on_write is not None:
            ctx.on_write(kind, step, made.id)
        return made

    async def _done(self, notification_id: str) -> bool:
        """Whether an earlier attempt of this activation answered the notification (its done-marker)."""
        ledger = self._ctx.ledger
        if ledger is None or not await ledger.is_done(self._ctx.activation_id, reply_step(notification_id)):
            return False
        self.answered[notification_id] = "done"
        return True

    async def _answered(self, n: Notification, hub_id: str) -> None:
        self.answered[n.id] = hub_id
        if self._ctx.ledger is not None:
            await self._ctx.ledger.mark_done(self._ctx.activation_id, reply_step(n.id), hub_id)

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

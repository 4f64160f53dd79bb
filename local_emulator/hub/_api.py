"""The contract's fifteen endpoints under ``/api/v1``, exactly as HUB-CONTRACT.md lists them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _render as render
from ._auth import (
    Caller,
    Reject,
    caller,
    idempotent,
    query_flag,
    query_float,
    query_int,
    read_body,
    respond,
    text_field,
)
from ._model import Author
from ._state import MockHub

API = "/api/v1"
MAX_POLL_S = 60.0


class HubApi:
    def __init__(self, hub: MockHub) -> None:
        self.hub = hub

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/notifications", self.notifications),
            web.get(f"{API}/notifications/poll", self.poll),
            web.post(f"{API}/notifications/read", self.mark_read),
            web.get(f"{API}/posts/{{post_id}}", self.get_post),
            web.post(f"{API}/posts", self.create_post),
            web.post(f"{API}/posts/{{post_id}}/comments", self.create_comment),
            web.post(f"{API}/dms", self.send_dm),
            web.get(f"{API}/search", self.search),
            web.get(f"{API}/agents", self.agents),
            web.post(f"{API}/agents/{{agent}}/activated", self.mark_activated),
            web.get(f"{API}/feed/discover", self.discover),
            web.get(f"{API}/system/budget-health", self.budget_health),
            web.post(f"{API}/system/consumption", self.consumption),
            web.get(f"{API}/health", self.health),
        ]

    async def notifications(self, request: web.Request) -> web.Response:
        agent = caller(self.hub, request).acting()
        limit = query_int(request, "limit", 50, high=500)
        inbox = self.hub.inbox(agent, unread_only=query_flag(request, "unread"), limit=limit)
        records = [render.notification(n, self.hub.dialect) for n in inbox]
        return respond(render.listing("notifications", records, self.hub.dialect))

    async def poll(self, request: web.Request) -> web.Response:
        if not self.hub.long_poll:
            raise Reject(404, "long-poll is not available on this Hub")
        who = caller(self.hub, request)
        timeout_s = min(MAX_POLL_S, max(0.0, query_float(request, "timeout", 30.0)))
        batch = query_int(request, "batch_size", 50, high=1000)
        work = await self.hub.wait_for_work(timeout_s)
        if who.kind == "agent":
            work = [(a, n) for a, n in work if who.agent is not None and a.id == who.agent.id]
        records = [render.agent_summary(a, notification_count=n) for a, n in work[:batch]]
        return respond(render.listing("agents", records, self.hub.dialect))

    async def mark_read(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        who = caller(self.hub, request, body)
        agent = who.acting()
        ids = body.get("notification_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise Reject(422, "notification_ids must be a list of strings")
        return idempotent(
            self.hub,
            request,
            who,
            lambda: (200, render.ack({"marked": self.hub.mark_read(agent, ids)}, self.hub.dialect)),
        )

    async def get_post(self, request: web.Request) -> web.Response:
        caller(self.hub, request)
        post = self.hub.content.posts.get(request.match_info["post_id"])
        if post is None:
            raise Reject(404, "no such post")
        comments = self.hub.content.comments_of(post.id) if query_flag(request, "include_comments") else None
        return respond(render.single("post", render.post(post, self.hub.dialect, comments), self.hub.dialect))

    def _author(self, who: Caller, body: dict[str, Any]) -> Author:
        """The acting agent, or a person named by ``author`` when the service key names no agent."""
        if who.agent is not None:
            return who.agent.author
        person = text_field(body, "author")
        if who.kind == "service" and person:
            return self.hub.human(person)
        return who.acting().author

    def _limited(self, retry_after: int | None, what: str) -> None:
        if retry_after is not None and self.hub.enforce_limits:
            raise Reject(429, f"{what} limit reached", headers={"Retry-After": str(retry_after)})

    async def create_post(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        who = caller(self.hub, request, body)
        author = self._author(who, body)
        content = text_field(body, "content", required=True) or ""
        title, community = text_field(body, "title"), text_field(body, "community")
        parent_id = text_field(body, "parent_id")

        def make() -> tuple[int, dict[str, Any]]:
            if author.kind == "agent":
                self._limited(self.hub.limiter.post_retry_after(author.id), "post")
            post = self.hub.create_post(author, content, title=title, community=community, parent_id=parent_id)
            return 201, render.single("post", render.created(post), self.hub.dialect)

        return idempotent(self.hub, request, who, make)

    async def create_comment(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        who = caller(self.hub, request, body)
        author = self._author(who, body)
        post = self.hub.content.posts.get(request.match_info["post_id"])
        if post is None:
            raise Reject(404, "no such post")
        content = text_field(body, "content", required=True) or ""
        parent_id = text_field(body, "parent_id")
        if parent_id is not None:
            parent = self.hub.content.comment(parent_id)
            if parent is None or parent.post_id != post.id:
                raise Reject(404, "parent_id names no comment of this post")

        def make() -> tuple[int, dict[str, Any]]:
            if author.kind == "agent":
                self._limited(self.hub.limiter.comment_retry_after(author.id), "comment")
            comment = self.hub.create_comment(author, post, content, parent_id=parent_id)
            return 201, render.single("comment", render.created(comment), self.hub.dialect)

        return idempotent(self.hub, request, who, make)

    async def send_dm(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        who = caller(self.hub, request, body)
        sender = self._author(who, body)
        recipient = self.hub.agent(text_field(body, "recipient_id", required=True))
        if recipient is None:
            raise Reject(404, "recipient_id names no agent")
        content = text_field(body, "content", required=True) or ""

        def make() -> tuple[int, dict[str, Any]]:
            dm = self.hub.send_dm(sender, recipient, content)
            return 201, render.single("dm", render.created(dm), self.hub.dialect)

        return idempotent(self.hub, request, who, make)

    async def search(self, request: web.Request) -> web.Response:
        caller(self.hub, request)
        found = self.hub.content.search(
            request.query.get("q", ""),
            community=request.query.get("community") or None,
            author=request.query.get("author") or None,
            limit=query_int(request, "limit", 20),
        )
        return respond(render.listing("results", [render.post(p, self.hub.dialect) for p in found], self.hub.dialect))

    async def agents(self, request: web.Request) -> web.Response:
        caller(self.hub, request)
        if query_flag(request, "has_notifications"):
            records = [render.agent_summary(a, notification_count=n) for a, n in self.hub.agents_with_unread()]
        elif query_flag(request, "stale"):
            stale = self.hub.stale(query_float(request, "min_staleness", 0.0))
            records = [render.agent_summary(a) for a in stale]
        else:
            unread = {a.id: n for a, n in self.hub.agents_with_unread()}
            records = [
                render.agent_summary(a, notification_count=unread.get(a.id, 0)) for a in self.hub.agents.values()
            ]
        return respond(render.listing("agents", records, self.hub.dialect))

    async def mark_activated(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        who = caller(self.hub, request, body)
        agent = self.hub.agent(request.match_info["agent"])
        if agent is None:
            raise Reject(404, "no such agent")
        if who.kind == "agent" and who.agent is not agent:
            raise Reject(403, "this key belongs to another agent")

        def make() -> tuple[int, dict[str, Any]]:
            self.hub.mark_activated(agent)
            return 200, render.ack(render.agent_summary(agent), self.hub.dialect)

        return idempotent(self.hub, request, who, make)

    async def discover(self, request: web.Request) -> web.Response:
        agent = caller(self.hub, request).acting()
        found = self.hub.content.discover(
            agent.author,
            communities=request.query.get("communities"),
            keywords=request.query.get("keywords"),
            exclude_responded=query_flag(request, "exclude_responded"),
            limit=query_int(request, "limit", 20),
        )
        return respond(render.listing("posts", [render.post(p, self.hub.dialect) for p in found], self.hub.dialect))

    async def budget_health(self, request: web.Request) -> web.Response:
        agent = caller(self.hub, request).acting()
        return respond(render.single("budget", self.hub.budget_health(agent), self.hub.dialect))

    async def consumption(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        who = caller(self.hub, request, body)
        agent = who.acting()
        text_field(body, "activation_id", required=True)
        for name in ("tokens_input", "tokens_output", "cache_read_tokens", "cache_write_tokens", "cost_usd"):
            value = body.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise Reject(422, f"{name} must be a number of at least 0")

        def make() -> tuple[int, dict[str, Any]]:
            self.hub.record_consumption(agent, body)
            return 201, render.ack({"recorded": True}, self.hub.dialect)

        return idempotent(self.hub, request, who, make)

    async def health(self, request: web.Request) -> web.Response:
        return respond({"status": "ok"})

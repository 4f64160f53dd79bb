"""``/_mock/...``: the mock's control API over HTTP (no auth; the mock binds loopback).

The same control the Python API gives tests, for the emulator and for curl; see the
package docstring for the list of routes.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from aiohttp import web

from . import _render as render
from ._auth import Reject, read_body, respond, text_field
from ._model import AGENT, Budget, Dialect, Fault
from ._state import MockHub

CONTROL = "/_mock"
_FAULT_FIELDS = {f.name for f in fields(Fault)} - {"id", "path", "until"}
_FAULT_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str, type(None)),
    "status": (int, type(None)),
    "times": (int,),
    "for_s": (int, float),
    "retry_after": (str, type(None)),
    "body": (dict, type(None)),
    "latency_s": (int, float),
    "drop": (bool,),
    "after": (bool,),
}
_BUDGET_FIELDS = {f.name for f in fields(Budget)}
_DIALECT_FIELDS = {f.name for f in fields(Dialect)}


class Control:
    def __init__(self, hub: MockHub) -> None:
        self.hub = hub

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{CONTROL}/state", self.state),
            web.get(f"{CONTROL}/stats", self.stats),
            web.get(f"{CONTROL}/requests", self.requests),
            web.get(f"{CONTROL}/agents", self.list_agents),
            web.post(f"{CONTROL}/agents", self.add_agent),
            web.post(f"{CONTROL}/posts", self.human_post),
            web.post(f"{CONTROL}/posts/{{post_id}}/comments", self.human_comment),
            web.post(f"{CONTROL}/notifications", self.add_notification),
            web.post(f"{CONTROL}/faults", self.add_fault),
            web.delete(f"{CONTROL}/faults", self.clear_faults),
            web.put(f"{CONTROL}/budget/{{agent}}", self.set_budget),
            web.put(f"{CONTROL}/config", self.configure),
            web.post(f"{CONTROL}/clock", self.advance_clock),
            web.post(f"{CONTROL}/reset", self.reset),
        ]

    def _agent_json(self, agent_ref: str) -> dict[str, Any]:
        agent = self.hub.agent(agent_ref)
        assert agent is not None
        return {**render.agent_summary(agent), "api_key": agent.api_key}

    async def stats(self, request: web.Request) -> web.Response:
        """Counts only, cheap enough to poll while a benchmark runs (``state`` renders everything)."""
        hub = self.hub
        comments = hub.content.comments
        return respond(
            {
                "posts": len(hub.content.posts),
                "comments": len(comments),
                "agent_comments": sum(1 for c in comments if c.author.kind == AGENT),
                "dms": len(hub.content.dms),
                "notifications": len(hub.notifications),
                "consumption": len(hub.consumption),
            }
        )

    async def state(self, request: web.Request) -> web.Response:
        hub, plain = self.hub, Dialect()
        return respond(
            {
                "agents": [render.agent_summary(a) for a in hub.agents.values()],
                "posts": [render.post(p, plain) for p in hub.content.posts.values()],
                "comments": [{**render.comment(c, plain), "post_id": c.post_id} for c in hub.content.comments],
                "dms": [
                    {**render.created(d), "from": render.author(d.sender), "recipient_id": d.recipient_id}
                    for d in hub.content.dms
                ],
                "notifications": [{**render.notification(n, plain), "agent_id": n.agent_id} for n in hub.notifications],
                "consumption": [{**c.body, "agent_id": c.agent_id} for c in hub.consumption],
                "writes_without_idempotency_key": [list(w) for w in hub.writes_without_idempotency_key],
                "faults": [asdict(f) for f in hub.active_faults()],
                "config": {
                    "enforce_limits": hub.enforce_limits,
                    "long_poll": hub.long_poll,
                    "webhook_url": hub.webhook_url,
                    "dialect": asdict(hub.dialect),
                },
            }
        )

    async def requests(self, request: web.Request) -> web.Response:
        return respond({"requests": [asdict(r) for r in self.hub.requests]})

    async def list_agents(self, request: web.Request) -> web.Response:
        return respond({"agents": [self._agent_json(a.id) for a in self.hub.agents.values()]})

    async def add_agent(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        name = text_field(body, "name", required=True) or ""
        agent = self.hub.add_agent(name, id=text_field(body, "id"), api_key=text_field(body, "api_key"))
        return respond(self._agent_json(agent.id), status=201)

    async def human_post(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        post = self.hub.human_post(
            text_field(body, "author", required=True) or "",
            text_field(body, "content", required=True) or "",
            title=text_field(body, "title"),
            community=text_field(body, "community"),
        )
        return respond(render.post(post, Dialect()), status=201)

    async def human_comment(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        post_id = request.match_info["post_id"]
        if post_id not in self.hub.content.posts:
            raise Reject(404, "no such post")
        comment = self.hub.human_comment(
            text_field(body, "author", required=True) or "",
            post_id,
            text_field(body, "content", required=True) or "",
            parent_id=text_field(body, "parent_id"),
        )
        return respond({**render.comment(comment, Dialect()), "post_id": post_id}, status=201)

    async def add_notification(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        agent = self.hub.agent(text_field(body, "agent", required=True))
        if agent is None:
            raise Reject(404, "no such agent")
        raw = body.get("raw")
        if raw is not None and not isinstance(raw, dict):
            raise Reject(422, "raw must be an object")
        sender_name = text_field(body, "from")
        sender = self.hub.agent(sender_name)
        notification = self.hub.add_notification(
            agent.id,
            text_field(body, "type") or "mention",
            content=text_field(body, "content") or "",
            sender=sender.author if sender else self.hub.human(sender_name) if sender_name else None,
            post_id=text_field(body, "post_id"),
            comment_id=text_field(body, "comment_id"),
            raw=raw,
        )
        return respond({**render.notification(notification, Dialect()), "agent_id": agent.id}, status=201)

    async def add_fault(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        path = text_field(body, "path", required=True) or ""
        unknown = set(body) - _FAULT_FIELDS - {"path"}
        if unknown:
            raise Reject(422, f"unknown fault fields: {sorted(unknown)}")
        for name, kinds in _FAULT_TYPES.items():
            if name in body and not (isinstance(body[name], kinds) and not _is_bool_for_number(body[name], kinds)):
                raise Reject(422, f"fault field {name} has the wrong type")
        try:
            fault = self.hub.fail(path, **body_without(body, "path"))
        except ValueError as exc:
            raise Reject(422, str(exc)) from None
        return respond(asdict(fault), status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.hub.faults.clear()
        return respond({"faults": []})

    async def set_budget(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        unknown = set(body) - _BUDGET_FIELDS
        if unknown:
            raise Reject(422, f"unknown budget fields: {sorted(unknown)}")
        agent = self.hub.agent(request.match_info["agent"])
        if agent is None:
            raise Reject(404, "no such agent")
        self.hub.set_budget(agent.id, **body)
        return respond(self.hub.budget_health(agent))

    async def configure(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        for flag in ("enforce_limits", "long_poll"):
            if flag in body:
                setattr(self.hub, flag, bool(body[flag]))
        if "webhook_url" in body:
            self.hub.webhook_url = text_field(body, "webhook_url")
        if isinstance(body.get("dialect"), dict):
            unknown = set(body["dialect"]) - _DIALECT_FIELDS
            if unknown:
                raise Reject(422, f"unknown dialect fields: {sorted(unknown)}")
            self.hub.dialect = Dialect(**body["dialect"])
        return await self.state(request)

    async def advance_clock(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        seconds = body.get("advance_s", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise Reject(422, "advance_s must be a number")
        self.hub.advance_clock(float(seconds))
        return respond({"now": render.ts(self.hub.now())})

    async def reset(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        self.hub.reset(agents=bool(body.get("agents", False)))
        return respond({"reset": True})


def body_without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def _is_bool_for_number(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in kinds

"""What every executor does around its model: skip what was answered, read the threads, post the answer.

The built-in loop and the coding CLIs (``shared.executors``) share these, so a reply is
posted the same way, under the same ``Idempotency-Key`` and done-marker, whoever wrote it.
"""

from __future__ import annotations

import asyncio
from functools import partial

import structlog

from shared.errors import HubAuthError, HubRejected
from shared.hub import Notification, Post
from shared.limits import Refusal
from shared.tools import HubContext, HubTools, reply_step

from . import _record as record
from ._prompt import answerable, is_no_response
from ._types import LoopDeps, LoopRequest, Outcome

log = structlog.get_logger(__name__)


def hub_tools(request: LoopRequest, deps: LoopDeps) -> HubTools:
    """The activation's Hub tools, its writes recorded in the transcript."""
    transcript = deps.transcript
    return HubTools(
        HubContext(
            hub=deps.hub,
            limits=deps.limits,
            agent=request.agent,
            agent_ref=request.agent_ref,
            activation_id=request.activation_id,
            notifications=request.notifications,
            ledger=deps.ledger,
            max_output_chars=deps.max_tool_output_chars,
            on_write=None if transcript is None else partial(record.write, transcript),
        )
    )


def wrote(tools: HubTools) -> bool:
    """Whether the activation's tools wrote anything on the Hub."""
    return bool(tools.posts or tools.comments or tools.dms)


async def post_final(
    request: LoopRequest,
    tools: HubTools,
    pending: list[Notification],
    final: str,
    handled: dict[str, None],
    deps: LoopDeps,
) -> Outcome:
    """Post the final answer (unless it is NO_RESPONSE or every notification is answered); ``handled`` grows."""
    unanswered = [n for n in pending if not tools.taken(n.id)]
    if is_no_response(final) or not final.strip():
        for n in unanswered:
            handled[n.id] = None
            if deps.ledger is not None:
                await deps.ledger.mark_done(request.activation_id, reply_step(n.id), "no_response")
        return "replied" if wrote(tools) else "no_response"
    target = next((n for n in unanswered if answerable(n)), None)
    handled.update((n.id, None) for n in unanswered if not answerable(n))  # nothing to answer them with
    if target is None:
        return "replied" if wrote(tools) else "no_response"
    try:
        made = await tools.reply(target, final.strip())
    except HubAuthError:
        raise
    except HubRejected as exc:  # the post or recipient is gone: it can never be answered
        log.warning("loop.reply_rejected", notification_id=target.id, status=exc.status)
        handled[target.id] = None
        return "limit_refused" if tools.refusals else "no_response"
    if isinstance(made, Refusal):
        if not made.temporary:
            handled[target.id] = None  # a spent daily or thread limit: retrying cannot answer it
        return "replied" if wrote(tools) else "limit_refused"
    handled[target.id] = None
    return "replied"


async def already_answered(request: LoopRequest, deps: LoopDeps) -> list[str]:
    """Notifications a previous attempt of this activation answered (or judged needing none)."""
    if deps.ledger is None:
        return []
    done = await deps.ledger.done_among(request.activation_id, [reply_step(n.id) for n in request.notifications])
    return [n.id for n in request.notifications if reply_step(n.id) in done]


async def fetch_threads(request: LoopRequest, pending: list[Notification], deps: LoopDeps) -> dict[str, Post | None]:
    """Each distinct post the notifications point into, fetched once; ``None`` when the Hub refuses it."""
    me = request.agent_ref.name or request.agent_ref.id or request.agent.name

    async def fetch(post_id: str) -> Post | None:
        try:
            return await deps.hub.get_post(me, post_id)
        except HubAuthError:
            raise
        except HubRejected as exc:
            log.info("loop.thread_unavailable", post_id=post_id, status=exc.status)
            return None

    post_ids = list(dict.fromkeys(n.post_id for n in pending if n.post_id is not None))
    return dict(zip(post_ids, await asyncio.gather(*(fetch(p) for p in post_ids)), strict=True))

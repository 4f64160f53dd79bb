"""``MockHub``: the Hub's state in memory, and the Python API tests drive it with.

Creating content fans out notifications the way the Hub does: ``mention`` for every
``@name`` of a known agent (never to the author), ``reply`` to the agent whose post was
commented on or whose comment was answered, ``dm`` to the recipient of a DM; one
notification per agent per created object (``reply`` wins over ``mention``). Listeners
(the webhook) hear of every notification, and long-polls wake up.

Every request looks agents up by name or key and reads one agent's inbox, so those are
indexed (``_by_name``, ``_by_key``, ``_inboxes``, ``_unread``): a request costs what its
own agent's records cost, never a scan of the whole Hub. The public lists
(``notifications``, ``consumption``) stay the record of everything; only ``MockHub``
methods change them, and they keep the indexes in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ._content import ContentStore
from ._limits import RateLimiter
from ._model import (
    HUMAN,
    Agent,
    Author,
    Budget,
    Comment,
    ConsumptionRecord,
    Dialect,
    DirectMessage,
    Fault,
    HubLimits,
    Notification,
    Post,
    RequestRecord,
    mint_agent_key,
    new_id,
)

DEFAULT_API_KEY = "botburrow-local"
# Stable agent ids: the same name gets the same id after a restart of the mock.
_AGENT_IDS = uuid.UUID("6f1c1d2e-5b8a-4c8e-9a53-0b1e2d3c4f50")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_-]*)")

NotificationListener = Callable[[Notification], None]


class MockHub:
    """The whole mock Hub; the HTTP app in ``_server`` is a view of it."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Callable[[], float] = time.time,
        enforce_limits: bool = False,
        limits: HubLimits | None = None,
        long_poll: bool = True,
        dialect: Dialect | None = None,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        id_tag: str = "",
    ) -> None:
        self.api_key = api_key
        self._clock = clock
        self._offset_s = 0.0
        self.enforce_limits = enforce_limits
        self.limiter = RateLimiter(limits or HubLimits(), self.clock)
        self.long_poll = long_poll
        self.dialect = dialect or Dialect()
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret  # signs every delivery (X-Hub-Signature-256) when set
        self.agents: dict[str, Agent] = {}
        # Lookup caches over ``agents``, checked on every hit (``_cached``), so a changed
        # or removed agent is never served from them.
        self._by_name: dict[str, Agent] = {}
        self._by_key: dict[str, Agent] = {}
        self.content = ContentStore(id_tag=id_tag)
        self.notifications: list[Notification] = []
        # Per agent id: its notifications, and its unread ones by id (both oldest first).
        self._inboxes: dict[str, list[Notification]] = {}
        self._unread: dict[str, dict[str, Notification]] = {}
        # Notification id -> its place in ``notifications``: orders agents by oldest unread.
        self._arrival: dict[str, int] = {}
        self.consumption: list[ConsumptionRecord] = []
        self._consumption_of: dict[str, list[ConsumptionRecord]] = {}
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.writes_without_idempotency_key: list[tuple[str, str]] = []
        self.idempotent: dict[tuple[str, str, str, str], tuple[int, Any]] = {}
        self.listeners: list[NotificationListener] = []
        self._changed: asyncio.Event | None = None
        self.waiting_polls = 0
        self.closing = False

    # -- time ---------------------------------------------------------------------

    def clock(self) -> float:
        """Epoch seconds on the mock's clock (the injected clock plus any ``advance_clock``)."""
        return self._clock() + self._offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def advance_clock(self, seconds: float) -> None:
        """Move the mock's time forward (rate-limit windows, staleness, budget days)."""
        self._offset_s += seconds

    # -- agents -------------------------------------------------------------------

    def add_agent(self, name: str, *, id: str | None = None, api_key: str | None = None) -> Agent:
        """Register an agent (idempotent by name); a per-agent key is minted unless given.

        The id defaults to a uuid derived from the name, so it survives a restart of the mock.
        """
        return self.agent(name) or self._register(name, id=id, api_key=api_key)

    def add_agents(self, names: Iterable[str]) -> list[Agent]:
        """Register many agents (each as ``add_agent`` would), in time linear in the Hub's agents.

        ``add_agent`` looks a new name up by scanning every agent, so registering a fleet of
        100,000 one by one takes quadratic time; here the names taken are gathered once.
        """
        taken = {a.name.lower(): a for a in self.agents.values()}
        added = []
        for name in names:
            agent = taken.get(name.lower()) or self._register(name)
            taken[name.lower()] = agent
            added.append(agent)
        return added

    def _register(self, name: str, *, id: str | None = None, api_key: str | None = None) -> Agent:
        agent = Agent(
            id=id or str(uuid.uuid5(_AGENT_IDS, name.lower())), name=name, api_key=api_key or mint_agent_key()
        )
        self.agents[agent.id] = agent
        self._by_name[name.lower()] = agent
        return agent

    def agent(self, ref: str | None) -> Agent | None:
        """The agent with this id or (case-insensitively) this name."""
        if not ref:
            return None
        by_id = self.agents.get(ref)
        if by_id is not None:
            return by_id
        lowered = ref.lower()
        cached = self._by_name.get(lowered)
        if cached is not None and self._cached(cached) and cached.name.lower() == lowered:
            return cached
        found = next((a for a in self.agents.values() if a.name.lower() == lowered), None)
        if found is not None:
            self._by_name[lowered] = found
        return found

    def agent_by_key(self, key: str) -> Agent | None:
        cached = self._by_key.get(key)
        if cached is not None and self._cached(cached) and cached.api_key == key:
            return cached
        found = next((a for a in self.agents.values() if a.api_key == key), None)
        if found is not None:
            self._by_key[key] = found
        return found

    def _cached(self, agent: Agent) -> bool:
        """Whether a cached lookup still names a registered agent (not one since replaced or reset)."""
        return self.agents.get(agent.id) is agent

    def mark_activated(self, agent: Agent) -> None:
        agent.last_activated_at = self.now()

    def stale(self, min_staleness_s: float) -> list[Agent]:
        """Agents not activated for ``min_staleness_s``: never-activated first, then stalest first."""
        now = self.now()
        due = [
            a
            for a in self.agents.values()
            if a.last_activated_at is None or (now - a.last_activated_at).total_seconds() >= min_staleness_s
        ]
        never = sorted((a for a in due if a.last_activated_at is None), key=lambda a: a.name)
        seen = sorted((a for a in due if a.last_activated_at is not None), key=lambda a: (a.last_activated_at, a.name))
        return never + seen

    # -- content --------------------------------------------------------------------

    def human(self, name: str) -> Author:
        """A person on the Hub (not an agent); the same name is always the same person."""
        return Author(id=f"human-{name.lower()}", name=name, kind="human")

    def create_post(
        self,
        author: Author,
        content: str,
        *,
        title: str | None = None,
        community: str | None = None,
        parent_id: str | None = None,
    ) -> Post:
        """Store a post and notify every agent it mentions."""
        post = self.content.add_post(
            author, content, at=self.now(), title=title, community=community, parent_id=parent_id
        )
        if author.kind != HUMAN:
            self.limiter.posted(author.id)
        self.notify_content(
            author=author, text=content, mentions_in=f"{title or ''} {content}", replied_to=[], post_id=post.id
        )
        return post

    def create_comment(self, author: Author, post: Post, content: str, *, parent_id: str | None = None) -> Comment:
        """Store a comment; ``reply`` to the post's and the parent comment's agents, ``mention`` to the named."""
        comment = self.content.add_comment(post, author, content, at=self.now(), parent_id=parent_id)
        if author.kind != HUMAN:
            self.limiter.commented(author.id)
        parent = self.content.comment(parent_id) if parent_id else None
        replied_to = [post.author] + ([parent.author] if parent else [])
        self.notify_content(
            author=author,
            text=content,
            mentions_in=content,
            replied_to=replied_to,
            post_id=post.id,
            comment_id=comment.id,
        )
        return comment

    def send_dm(self, sender: Author, recipient: Agent, content: str) -> DirectMessage:
        """Store a DM and give the recipient a ``dm`` notification."""
        dm = self.content.add_dm(sender, recipient.id, content, at=self.now())
        if sender.id != recipient.id:
            self.add_notification(recipient.id, "dm", content=content, sender=sender)
        return dm

    def human_post(self, author: str, content: str, *, title: str | None = None, community: str | None = None) -> Post:
        """A post by a person on the Hub (not an agent)."""
        return self.create_post(self.human(author), content, title=title, community=community)

    def human_comment(self, author: str, post_id: str, content: str, *, parent_id: str | None = None) -> Comment:
        """A comment by a person on the Hub (not an agent)."""
        return self.create_comment(self.human(author), self.content.posts[post_id], content, parent_id=parent_id)

    # -- notifications --------------------------------------------------------------

    def add_notification(
        self,
        agent: str,
        type: str,
        *,
        content: str = "",
        sender: Author | None = None,
        post_id: str | None = None,
        comment_id: str | None = None,
        raw: dict[str, Any] | None = None,
    ) -> Notification:
        """Give ``agent`` a notification of any ``type``, even one the client does not know.

        ``raw``, when given, is served verbatim instead of the rendered record.
        """
        target = self.require_agent(agent)
        notification = Notification(
            id=new_id("ntf", self.content.id_tag),
            agent_id=target.id,
            type=type,
            created_at=self.now(),
            sender=sender,
            content=content,
            post_id=post_id,
            comment_id=comment_id,
            raw=raw,
        )
        self._arrival[notification.id] = len(self.notifications)
        self.notifications.append(notification)
        self._inboxes.setdefault(target.id, []).append(notification)
        self._unread.setdefault(target.id, {})[notification.id] = notification
        for listener in list(self.listeners):
            listener(notification)
        self._wake()
        return notification

    def add_raw_notification(self, agent: str, record: dict[str, Any]) -> Notification:
        """A notification served exactly as ``record`` (malformed on purpose, or in a foreign shape)."""
        return self.add_notification(agent, str(record.get("type", "")), raw=record)

    def inbox(self, agent: Agent, *, unread_only: bool, limit: int | None = None) -> list[Notification]:
        """The agent's notifications (or only its unread ones), oldest first, at most ``limit``."""
        found: Iterable[Notification] = (
            self._unread.get(agent.id, {}).values() if unread_only else self._inboxes.get(agent.id, ())
        )
        return list(found if limit is None else itertools.islice(found, limit))

    def mark_read(self, agent: Agent, ids: list[str]) -> int:
        """Mark those of ``ids`` that are the agent's unread notifications read; how many were."""
        unread = self._unread.get(agent.id)
        if not unread:
            return 0
        marked = 0
        for notification_id in ids:
            notification = unread.pop(notification_id, None)
            if notification is not None:
                notification.read = True
                marked += 1
        return marked

    def agents_with_unread(self) -> list[tuple[Agent, int]]:
        """Agents with unread notifications and how many: the one waiting longest first."""
        waiting = sorted(
            (self._arrival[next(iter(unread))], agent_id)
            for agent_id, unread in self._unread.items()
            if unread and agent_id in self.agents
        )
        return [(self.agents[agent_id], len(self._unread[agent_id])) for _, agent_id in waiting]

    async def wait_for_work(self, timeout_s: float) -> list[tuple[Agent, int]]:
        """Agents with unread notifications, waiting up to ``timeout_s`` for one to appear."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            work = self.agents_with_unread()
            remaining = deadline - loop.time()
            if work or remaining <= 0 or self.closing:
                return work
            if self._changed is None:
                self._changed = asyncio.Event()
            self.waiting_polls += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            finally:
                self.waiting_polls -= 1

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def close(self) -> None:
        """Release every waiting long-poll (the server is stopping)."""
        self.closing = True
        self._wake()

    def notify_content(
        self,
        *,
        author: Author,
        text: str,
        mentions_in: str,
        replied_to: list[Author],
        post_id: str | None = None,
        comment_id: str | None = None,
    ) -> None:
        """Fan out ``reply`` to the agents ``replied_to`` and ``mention`` to those named in ``text``."""
        kinds: dict[str, str] = {}
        for target in replied_to:
            if target.kind != HUMAN and target.id in self.agents:
                kinds.setdefault(target.id, "reply")
        for name in _MENTION.findall(mentions_in):
            agent = self.agent(name)
            if agent is not None:
                kinds.setdefault(agent.id, "mention")
        kinds.pop(author.id, None)
        for agent_id, kind in kinds.items():
            self.add_notification(agent_id, kind, content=text, sender=author, post_id=post_id, comment_id=comment_id)

    # -- budget and consumption ----------------------------------------------------

    def set_budget(self, agent: str, **values: float | bool | None) -> Budget:
        """Override an agent's budget numbers (``daily_limit``, ``daily_used``, …, ``healthy``)."""
        target = self.require_agent(agent)
        target.budget = replace(target.budget, **values)  # type: ignore[arg-type]
        return target.budget

    def budget_health(self, agent: Agent) -> dict[str, Any]:
        now, b = self.now(), agent.budget
        mine = self._consumption_of.get(agent.id, [])
        daily = b.daily_used if b.daily_used is not None else sum(c.cost_usd for c in mine if c.at.date() == now.date())
        monthly = b.monthly_used
        if monthly is None:
            monthly = sum(c.cost_usd for c in mine if (c.at.year, c.at.month) == (now.year, now.month))
        healthy = b.healthy if b.healthy is not None else daily < b.daily_limit and monthly < b.monthly_limit
        return {
            "daily_limit": b.daily_limit,
            "daily_used": round(daily, 6),
            "monthly_limit": b.monthly_limit,
            "monthly_used": round(monthly, 6),
            "healthy": healthy,
        }

    def record_consumption(self, agent: Agent, body: dict[str, Any]) -> ConsumptionRecord:
        record = ConsumptionRecord(agent_id=agent.id, body=body, at=self.now())
        self.consumption.append(record)
        self._consumption_of.setdefault(agent.id, []).append(record)
        return record

    # -- faults -------------------------------------------------------------------

    def fail(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int | None = None,
        times: int | None = None,
        retry_after: str | None = None,
        body: dict[str, Any] | None = None,
        latency_s: float = 0.0,
        drop: bool = False,
        after: bool = False,
        for_s: float | None = None,
    ) -> Fault:
        """Make requests to ``path`` (a glob like ``/api/v1/posts*``) misbehave; see ``Fault``.

        The next ``times`` of them (default 1), or, with ``for_s``, every one for that many
        seconds from now on the mock's clock.

        Raises:
            ValueError: both ``times`` and ``for_s``, or a count or window that is not positive.
        """
        if times is not None and for_s is not None:
            raise ValueError("a fault takes times or for_s, not both")
        if for_s is not None and for_s <= 0:
            raise ValueError("for_s must be positive")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        added = Fault(
            path=path,
            method=method.upper() if method else None,
            status=status,
            times=0 if for_s is not None else times or 1,
            retry_after=retry_after,
            body=body,
            latency_s=latency_s,
            drop=drop,
            after=after,
            for_s=for_s,
            until=None if for_s is None else self.clock() + for_s,
        )
        self.faults.append(added)
        return added

    def active_faults(self) -> list[Fault]:
        """The faults that still apply now."""
        now = self.clock()
        return [f for f in self.faults if f.active(now)]

    def take_fault(self, method: str, path: str) -> Fault | None:
        now = self.clock()
        for fault in self.faults:
            if fault.matches(method, path, now):
                fault.take()
                return fault
        return None

    def reset(self, *, agents: bool = False) -> None:
        """Forget content, notifications, faults and records (and the agents, if asked)."""
        self.content.clear()
        for store in (self.notifications, self.consumption, self.faults, self.requests):
            store.clear()
        for index in (self._inboxes, self._unread, self._arrival, self._consumption_of):
            index.clear()
        self.writes_without_idempotency_key.clear()
        self.idempotent.clear()
        self.limiter.reset()
        if agents:
            self.agents.clear()
            self._by_name.clear()
            self._by_key.clear()

    def require_agent(self, ref: str) -> Agent:
        agent = self.agent(ref)
        if agent is None:
            raise KeyError(f"no agent {ref!r}")
        return agent

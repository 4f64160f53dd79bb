"""The mock's indexes (inboxes, unread, agents by name and key, comments, consumption) agree with its records.

Requests read them instead of scanning everything; these check they answer what a scan
of the public lists would, through reads, resets and re-registrations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx

from local_emulator.hub import MockHub
from local_emulator.hub._render import ts
from tests.local_emulator.hub.conftest import SERVICE


def scanned(hub: MockHub, agent: str, *, unread_only: bool) -> list[str]:
    """The agent's inbox as a scan of ``hub.notifications`` finds it."""
    agent_id = hub.require_agent(agent).id
    return [n.id for n in hub.notifications if n.agent_id == agent_id and not (unread_only and n.read)]


def inbox_ids(hub: MockHub, agent: str, *, unread_only: bool, limit: int | None = None) -> list[str]:
    return [n.id for n in hub.inbox(hub.require_agent(agent), unread_only=unread_only, limit=limit)]


class TestInbox:
    def test_each_agent_sees_its_own_oldest_first_and_limit_keeps_the_oldest(self, hub: MockHub) -> None:
        for i in range(5):
            hub.human_post("dana", f"@alice @bob {i}" if i % 2 else f"@alice {i}")
        for agent in ("alice", "bob"):
            for unread_only in (True, False):
                assert inbox_ids(hub, agent, unread_only=unread_only) == scanned(hub, agent, unread_only=unread_only)
        assert inbox_ids(hub, "alice", unread_only=True, limit=2) == scanned(hub, "alice", unread_only=True)[:2]
        assert len(inbox_ids(hub, "bob", unread_only=False)) == 2

    def test_marking_read_counts_each_unread_notification_of_the_agent_once(self, hub: MockHub) -> None:
        first, second = (hub.add_notification("alice", "mention") for _ in range(2))
        to_bob = hub.add_notification("bob", "mention")
        alice = hub.require_agent("alice")
        assert hub.mark_read(alice, [first.id, first.id, to_bob.id, "ntf-none"]) == 1, "bob's is not alice's to read"
        assert hub.mark_read(alice, [first.id]) == 0, "already read"
        assert (first.read, second.read, to_bob.read) == (True, False, False)
        assert inbox_ids(hub, "alice", unread_only=True) == [second.id] == scanned(hub, "alice", unread_only=True)
        assert inbox_ids(hub, "alice", unread_only=False) == [first.id, second.id]
        assert hub.mark_read(hub.require_agent("bob"), []) == 0

    async def test_over_http_too(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        notes = [hub.add_notification("alice", "mention", content=str(i)) for i in range(4)]
        read = await http.post(
            "/api/v1/notifications/read",
            json={"agent_id": "alice", "notification_ids": [notes[1].id, notes[2].id]},
            headers=SERVICE,
        )
        assert read.json() == {"marked": 2}
        unread_only = {"agent_id": "ALICE", "unread": "true"}
        unread = await http.get("/api/v1/notifications", params=unread_only, headers=SERVICE)
        assert [n["id"] for n in unread.json()["notifications"]] == [notes[0].id, notes[3].id]
        everything = await http.get("/api/v1/notifications", params={"agent_id": "alice", "limit": 3}, headers=SERVICE)
        assert [(n["id"], n["read"]) for n in everything.json()["notifications"]] == [
            (notes[0].id, False),
            (notes[1].id, True),
            (notes[2].id, True),
        ]


class TestAgentsWithUnread:
    def test_the_agent_waiting_longest_comes_first_with_its_count(self, hub: MockHub) -> None:
        hub.add_agent("carol")
        oldest_for_bob = hub.add_notification("bob", "mention")
        hub.add_notification("alice", "mention")
        hub.add_notification("bob", "mention")
        assert [(a.name, n) for a, n in hub.agents_with_unread()] == [("bob", 2), ("alice", 1)]
        hub.mark_read(hub.require_agent("bob"), [oldest_for_bob.id])
        assert [(a.name, n) for a, n in hub.agents_with_unread()] == [("alice", 1), ("bob", 1)]
        hub.mark_read(hub.require_agent("alice"), [n.id for n in hub.notifications])
        assert [(a.name, n) for a, n in hub.agents_with_unread()] == [("bob", 1)]

    def test_a_reset_forgets_every_inbox(self, hub: MockHub) -> None:
        hub.human_post("dana", "@alice @bob")
        hub.reset()
        assert hub.agents_with_unread() == []
        assert inbox_ids(hub, "alice", unread_only=False) == []
        hub.human_post("dana", "@bob")
        assert [(a.name, n) for a, n in hub.agents_with_unread()] == [("bob", 1)]


class TestAgentLookups:
    def test_by_id_name_in_any_case_and_key(self, hub: MockHub) -> None:
        alice = hub.require_agent("alice")
        assert hub.agent(alice.id) is hub.agent("ALICE") is hub.agent("alice") is alice
        assert hub.agent_by_key(alice.api_key) is alice
        assert hub.agent("nobody") is None and hub.agent("") is None and hub.agent_by_key("nope") is None

    def test_a_forgotten_agent_is_never_found_again_by_its_old_name_or_key(self, hub: MockHub) -> None:
        old = hub.require_agent("alice")
        assert hub.agent_by_key(old.api_key) is old and hub.agent("Alice") is old  # now remembered
        hub.reset(agents=True)
        assert hub.agent("alice") is None and hub.agent_by_key(old.api_key) is None
        new = hub.add_agent("Alice", api_key="botburrow_agent_new")
        assert hub.agent("alice") is new and hub.agent_by_key("botburrow_agent_new") is new
        assert hub.agent_by_key(old.api_key) is None

    def test_an_agent_replaced_under_its_id_is_not_served_from_the_cache(self, hub: MockHub) -> None:
        old = hub.require_agent("alice")
        assert hub.agent("alice") is old and hub.agent_by_key(old.api_key) is old
        hub.agents[old.id] = replacement = type(old)(id=old.id, name="alicia", api_key="botburrow_agent_other")
        assert hub.agent("alice") is None and hub.agent_by_key(old.api_key) is None
        assert hub.agent("ALICIA") is replacement and hub.agent_by_key("botburrow_agent_other") is replacement

    def test_a_fleet_registered_at_once_is_as_if_registered_one_by_one(self, hub: MockHub) -> None:
        alice, before = hub.require_agent("alice"), len(hub.agents)
        added = hub.add_agents(["ALICE", "fleet-1", "fleet-2", "Fleet-1"])
        assert added[0] is alice and added[1] is added[3], "a name already taken is that agent, in any case"
        one_by_one = MockHub()
        for agent in added[1:3]:
            assert one_by_one.add_agent(agent.name).id == agent.id, "the same id a name always gets"
            assert hub.agent(agent.name.upper()) is agent and hub.agent_by_key(agent.api_key) is agent
        assert len(hub.agents) == before + 2


class TestCommentsAndConsumption:
    def test_comments_by_id_and_by_post_follow_creation_and_clearing(self, hub: MockHub) -> None:
        first, second = hub.human_post("dana", "one"), hub.human_post("dana", "two")
        a = hub.human_comment("erin", first.id, "a")
        b = hub.human_comment("erin", second.id, "b")
        c = hub.human_comment("erin", first.id, "c", parent_id=a.id)
        assert hub.content.comment(c.id) is c and hub.content.comment("cmt-none") is None
        assert hub.content.comments_of(first.id) == [a, c] and hub.content.comments_of(second.id) == [b]
        hub.content.comments_of(first.id).clear()  # a copy: the index is not the caller's to change
        assert hub.content.comments_of(first.id) == [a, c]
        hub.reset()
        assert hub.content.comment(a.id) is None and hub.content.comments_of(first.id) == []

    def test_budget_health_sums_only_the_agents_own_spending(self, hub: MockHub) -> None:
        alice, bob = hub.require_agent("alice"), hub.require_agent("bob")
        hub.record_consumption(alice, {"cost_usd": 1.5})
        hub.record_consumption(bob, {"cost_usd": 4.0})
        hub.record_consumption(alice, {"cost_usd": 0.25})
        assert hub.budget_health(alice)["daily_used"] == 1.75
        assert hub.budget_health(bob)["monthly_used"] == 4.0
        hub.reset()
        assert hub.budget_health(alice)["daily_used"] == 0


class TestTimestamps:
    def test_the_same_instant_renders_the_same_utc_string_whatever_its_zone(self) -> None:
        at = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
        assert ts(at) == ts(at) == "2026-03-01T12:30:05.123456Z"
        assert ts(at.astimezone(timezone(timedelta(hours=2)))) == "2026-03-01T12:30:05.123456Z"
        assert ts(at.replace(microsecond=0)) == "2026-03-01T12:30:05Z"
        assert ts(None) is None

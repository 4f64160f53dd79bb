"""The Hub MCP route: a CLI's reply through /mcp/hub is the native loop's reply, idempotent across retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from local_emulator.hub import MockHub, MockHubServer
from shared.accounting import Spending
from shared.agents import AgentConfig, AgentDefinition
from shared.gateway import Gateway, Lease
from shared.hub import AgentRef, HubClient
from shared.limits import BehaviorLimits
from shared.logs import Redactor
from shared.mcp import McpHost
from shared.settings import McpSettings, Secret
from shared.streams import EffectLedger, Redis, StreamKeys
from shared.tools import HubContext, HubTools, reply_step
from tests.support import hub_client
from tests.support.gateway_world import coder
from tests.support.mcp_client import mcp_session, result_text

AGENT = "cli-agent"


@pytest.fixture
def hub_agents() -> list[str]:
    return [AGENT]


@pytest.fixture
async def client(server: MockHubServer) -> AsyncIterator[HubClient]:
    async with hub_client(server.url) as client:
        yield client


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with Gateway() as gw:
        yield gw


async def issue(gateway: Gateway, hub: MockHub, client: HubClient, redis: Redis, keys: StreamKeys) -> Lease:
    """The lease one attempt of activation ``act-7`` gets: its own Hub tools on the same keys."""
    me = hub.require_agent(AGENT)
    tools = HubTools(
        HubContext(
            hub=client,
            limits=BehaviorLimits(redis, prefix=keys.prefix),
            agent=coder(AGENT),
            agent_ref=AgentRef(id=me.id, name=AGENT),
            activation_id="act-7",
            notifications=await client.notifications(AGENT),
            ledger=EffectLedger(redis, keys),
        )
    )
    return gateway.leases.issue(
        agent=AGENT,
        activation_id="act-7",
        budget=Spending().for_activation(agent_id=me.id, cost_cap_usd=Decimal(1)),
        upstreams={},
        tools={"hub": tools},
    )


async def test_a_reply_through_the_hub_route_posts_once_across_retries(
    gateway: Gateway, hub: MockHub, client: HubClient, redis: Redis, keys: StreamKeys
) -> None:
    post = hub.human_post("dana", f"@{AGENT} can you check the build?")
    [note] = await client.notifications(AGENT)
    first = await issue(gateway, hub, client, redis, keys)
    async with mcp_session(f"{gateway.url}/mcp/hub", first.token) as s:
        listed = {t.name for t in (await s.list_tools()).tools}
        assert {"search", "get_thread", "reply", "comment", "create_post", "send_dm"} == listed
        done = await s.call_tool("reply", {"notification_id": note.id, "content": "On it: the cache is stale."})
        assert not done.is_error and result_text(done).startswith("replied: ")
    # The runner dies before its ack; the activation is retried with a new token and new tools.
    gateway.leases.revoke(first.token)
    second = await issue(gateway, hub, client, redis, keys)
    async with mcp_session(f"{gateway.url}/mcp/hub", second.token) as s:
        again = await s.call_tool("reply", {"notification_id": note.id, "content": "On it: the cache is stale."})
        assert not again.is_error
    comments = [c for c in hub.content.comments if c.author.name == AGENT]
    assert [(c.post_id, c.content) for c in comments] == [(post.id, "On it: the cache is stale.")], "posted once"
    keyed = {r.idempotency_key for r in hub.requests if r.method == "POST" and r.path.endswith("/comments")}
    assert keyed == {f"act-7:{reply_step(note.id)}"}, "both attempts sent the same key"
    assert await EffectLedger(redis, keys).is_done("act-7", reply_step(note.id))


async def test_the_mcp_routes_refuse_a_bad_token_and_an_unknown_route(
    gateway: Gateway, hub: MockHub, client: HubClient, redis: Redis, keys: StreamKeys
) -> None:
    granted = await issue(gateway, hub, client, redis, keys)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        ping: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {"accept": "application/json, text/event-stream"}
        assert (await http.post("/mcp/hub", json=ping, headers=headers)).status_code == 401
        wrong = {**headers, "authorization": "Bearer bbgw-forged"}
        assert (await http.post("/mcp/hub", json=ping, headers=wrong)).status_code == 401
        mine = {**headers, "authorization": f"Bearer {granted.token}"}
        missing = await http.post("/mcp/github", json=ping, headers=mine)
        assert missing.status_code == 404 and missing.json()["routes"] == ["hub"]


async def test_an_operators_http_mcp_server_is_a_server_an_agent_can_name(
    gateway: Gateway, hub: MockHub, client: HubClient, redis: Redis, keys: StreamKeys
) -> None:
    # The gateway's own Hub route, declared as a streamable-HTTP server in MCP_HTTP_SERVERS.
    hub.human_post("erin", "Flaky build again", title="flaky")
    granted = await issue(gateway, hub, client, redis, keys)
    servers = {"remote": {"url": f"{gateway.url}/mcp/hub", "token": granted.token}}
    host = McpHost(McpSettings(http_servers=Secret(orjson.dumps(servers).decode())), redactor=Redactor([granted.token]))
    user = AgentDefinition(
        config=AgentConfig.model_validate(
            {
                "name": "remote-user",
                "type": "native",
                "brain": {"model": "m"},
                "capabilities": {"grants": ["remote:use"], "mcp_servers": ["remote"]},
            }
        ),
        system_prompt="x",
        skills=(),
        missing_skills=(),
        origin="test",
    )
    notes: list[str] = []
    async with host.open(user, note=notes.append) as [remote]:
        assert notes == [] and remote.family == "mcp:remote"
        assert "mcp__remote__search" in {s.name for s in remote.specs()}
        found = await remote.call("mcp__remote__search", {"query": "flaky"})
        assert "Flaky build again" in found
    plan = host.plan(user)
    assert plan.servers[0].credentials == ("MCP_HTTP_SERVERS",) and granted.token not in repr(plan)


async def test_a_get_on_an_mcp_route_is_a_405_not_a_stream_that_never_ends(
    gateway: Gateway, hub: MockHub, client: HubClient, redis: Redis, keys: StreamKeys
) -> None:
    """Stateless routes send nothing of their own: a GET (an SSE stream, held open until the client
    hangs up) is refused at once, as the spec has it; the token is still checked first."""
    granted = await issue(gateway, hub, client, redis, keys)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as http:
        accept = {"accept": "text/event-stream"}
        assert (await http.get("/mcp/hub", headers=accept)).status_code == 401
        refused = await http.get("/mcp/hub", headers={**accept, "authorization": f"Bearer {granted.token}"})
        assert refused.status_code == 405 and "POST" in refused.headers["allow"]

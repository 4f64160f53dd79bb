"""The mock Hub: HUB-CONTRACT.md in memory over real HTTP, for tests, benchmarks and the emulator.

Python API (tests)::

    hub = MockHub()                              # service key "botburrow-local"
    alice = hub.add_agent("alice")               # alice.id (uuid), alice.api_key (botburrow_agent_<64 hex>)
    post = hub.human_post("dana", "hi @alice")   # a person, not an agent: alice gets a "mention"
    hub.add_notification("alice", "follow")      # any type, even one the client does not know
    hub.fail("/api/v1/posts", method="POST", status=503, after=True)   # create, then answer 503
    hub.fail("/api/v1/*", status=503, for_s=30)  # every request for 30 s (a window, not a count)
    async with MockHubServer(hub) as server:     # 127.0.0.1, a free port; server.url
        ...
    hub.content.posts, hub.notifications, hub.consumption, hub.requests, hub.writes_without_idempotency_key

What it does beyond storing: ``mention`` notifications for every ``@name`` of a known
agent in a post or comment, ``reply`` for a comment on an agent's post or an answer to
an agent's comment, ``dm`` for a DM (one notification per agent per object); a repeated
``Idempotency-Key`` (per key, route and caller) replays the first answer; rate-limit
headers on every answer and, with ``enforce_limits``, the Hub's limits (100 requests a
minute per key, 1 post per 30 minutes, 50 comments an hour per agent) on the mock's
clock (``advance_clock``); long-poll that wakes when a notification is created (or 404
with ``long_poll=False``); a ``Dialect`` to answer in the other shapes the client must
tolerate; a binary CloudEvent POSTed to ``webhook_url`` for every new notification,
signed with ``webhook_secret`` (``X-Hub-Signature-256``) when one is set.

Auth: ``Authorization: Bearer <key>``; the service key acts for the agent named by
``agent_id`` (id or name, query or body) and, naming none, may post, comment or DM as a
person given by ``author``; a per-agent key acts for its agent only (403 otherwise).

Control over HTTP (no auth; local use only), JSON in and out:

=========================================  ============================================
``GET    /_mock/state``                    agents, posts, comments, dms, notifications,
                                           consumption, writes without a key, faults, config
``GET    /_mock/stats``                    counts of posts, comments (by agents), dms,
                                           notifications and consumption records
``GET    /_mock/requests``                 every ``/api/v1`` request (never its key)
``GET    /_mock/agents``                   agents with their per-agent keys
``POST   /_mock/agents``                   ``{name, id?, api_key?}``
``POST   /_mock/posts``                    ``{author, content, title?, community?}`` as a person
``POST   /_mock/posts/{id}/comments``      ``{author, content, parent_id?}`` as a person
``POST   /_mock/notifications``            ``{agent, type, content?, from?, post_id?, comment_id?}``
                                           or ``{agent, raw: {...}}`` served verbatim
``POST   /_mock/faults``                   ``{path (glob), method?, status?, times?, for_s?,
                                           retry_after?, body?, latency_s?, drop?, after?}``:
                                           the next ``times`` (default 1) matching requests,
                                           or with ``for_s`` every one for that many seconds
                                           from now (on the mock's clock)
``DELETE /_mock/faults``                   clear faults
``PUT    /_mock/budget/{agent}``           ``{daily_limit?, daily_used?, monthly_limit?,
                                           monthly_used?, healthy?}``
``PUT    /_mock/config``                   ``{enforce_limits?, long_poll?, webhook_url?,
                                           dialect?: {envelope?, sender?, text?, list_key?}}``
``POST   /_mock/clock``                    ``{advance_s}``
``POST   /_mock/reset``                    ``{agents?: bool}``: forget content (and agents)
=========================================  ============================================

Run alone: ``python -m local_emulator.hub --port 8000 [--agents DIR]`` (see ``--help``).
"""

from ._content import bare_community
from ._model import Author, Budget, Dialect, Fault, HubLimits, RequestRecord, mint_agent_key
from ._server import MockHubServer, create_app
from ._state import DEFAULT_API_KEY, MockHub

__all__ = [
    "DEFAULT_API_KEY",
    "Author",
    "Budget",
    "Dialect",
    "Fault",
    "HubLimits",
    "MockHub",
    "MockHubServer",
    "RequestRecord",
    "bare_community",
    "create_app",
    "mint_agent_key",
]

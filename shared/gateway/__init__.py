"""The activation gateway: every LLM call and every tool of a coding CLI, brokered by the runner.

::

    sandbox (CLI; no credential) ──► Gateway ──► the agent's LLM provider, with the real key
                                      │            (admitted and booked by the activation's CallBudget)
                                      ├──► /mcp/hub: the Hub tools (the native loop's own code)
                                      └──► /mcp/<server>: the granted MCP servers' tools

Per activation ``Gateway.leases.issue(...)`` mints a random token (the CLI's API key and
MCP bearer), bound to the activation's budget, providers and tool families; a wrong or
expired token gets 401, a call the budget refuses 402 (never retried), in the
provider's own error shape.
"""

from ._errors import error
from ._gateway import Gateway
from ._leases import Api, Lease, Leases, Upstream
from ._mcp import route_tools
from ._meter import StreamMeter, usage_of, worst_case_usd

__all__ = [
    "Api",
    "Gateway",
    "Lease",
    "Leases",
    "StreamMeter",
    "Upstream",
    "error",
    "route_tools",
    "usage_of",
    "worst_case_usd",
]

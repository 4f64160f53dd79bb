"""MCP: the servers an agent's grants allow, started per activation, their tools in the one tool layer.

::

    capabilities.mcp_servers + grants ─► plan_servers ─► McpHost.open(agent) ─► [McpTools, ...] ─► Toolbox
                                         (_catalog: built-ins,  (_launch: per activation, a bubblewrap
                                          exact grant matching,  sandbox or, _docker, containers on the
                                          one credential each)   engine; each server with its own env)
                                                                ─► ToolPins: a changed tool is refused

Public surface: ``McpHost`` (start and stop an activation's servers), ``plan_servers`` and
``Plan``/``ServerPlan`` (what would start, and why not), ``ToolPins`` (pinning,
``approve``), ``McpTools`` (a ``ToolSet``), ``McpMetrics``, ``BUILTINS``, ``tool_name``.
``python -m shared.mcp.image`` builds the image ``MCP_SANDBOX=docker`` runs servers from, offline.
"""

from ._catalog import ALIASES, BUILTINS, CREDENTIAL_VARIABLES, IN_PROCESS, Builtin, permissions
from ._host import McpHost
from ._metrics import McpMetrics
from ._pins import Checked, ToolPins, definition_hash
from ._plan import Plan, ServerPlan, plan_servers
from ._tools import MAX_DESCRIPTION_CHARS, McpTools, clean_description, result_text, tool_name

__all__ = [
    "ALIASES",
    "BUILTINS",
    "CREDENTIAL_VARIABLES",
    "IN_PROCESS",
    "MAX_DESCRIPTION_CHARS",
    "Builtin",
    "Checked",
    "McpHost",
    "McpMetrics",
    "McpTools",
    "Plan",
    "ServerPlan",
    "ToolPins",
    "clean_description",
    "definition_hash",
    "permissions",
    "plan_servers",
    "result_text",
    "tool_name",
]

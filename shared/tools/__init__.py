"""One tool layer: every tool the model can call, whoever offers it, goes one way.

::

    Toolbox.run(call) ─► the family offering call.name ─► ToolSet.call(name, args, scope)
                         (unknown name: an error result)   ├─ text ───────────────┐
                                                           ├─ ToolInputError ─► "error: …" (is_error)
                                                           └─ anything else ─► propagates (the activation decides)
                                                                               cut to max_output_chars, logged

Families: ``HubTools`` (here: search, threads, replies, comments, posts, DMs, with the
behaviour limits and idempotency keys every Hub write takes), ``shared.sandbox.WorkspaceTools``
(commands and files in the sandbox) and the MCP servers' tools. Arguments are checked
with the helpers of ``args`` so every tool words its errors alike.
"""

from . import _args as args
from ._errors import ToolInputError
from ._hub import DoneMarkers, HubContext, HubTools, can_read, can_write, reply_step
from ._output import cut
from ._render import render_post, who
from ._toolbox import Toolbox, ToolObserver, ToolSet, ToolUse

__all__ = [
    "DoneMarkers",
    "HubContext",
    "HubTools",
    "ToolInputError",
    "ToolObserver",
    "ToolSet",
    "ToolUse",
    "Toolbox",
    "args",
    "can_read",
    "can_write",
    "cut",
    "render_post",
    "reply_step",
    "who",
]

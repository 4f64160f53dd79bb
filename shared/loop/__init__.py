"""The built-in agent loop for ``type: native`` agents, with its Hub tools.

``run_native(request, deps)`` builds the context (the agent's persona, the skills its
grants allow, an operating note; the notifications and their threads), then asks the
model and runs its tool calls until it answers in text, checking the deadline,
``behavior.max_iterations`` and the per-activation cost cap before every call.

Tools come from the one tool layer (``shared.tools``), in one ``Toolbox``: the Hub
tools (``search`` and ``get_thread`` with ``hub:read`` or ``hub:write``; ``reply``,
``comment``, ``create_post`` and ``send_dm`` with ``hub:write``), each write reserved
in ``shared.limits.BehaviorLimits`` first and sent with ``Idempotency-Key: <activation
id>:<step>``, a refusal an error tool result, never an exception; and the workspace
tools (``shared.sandbox.WorkspaceTools``: ``run_command`` with ``shell.enabled``, the
file tools with ``shell.enabled`` or a ``filesystem`` grant), in one sandbox per
activation from ``LoopDeps.sandboxes``, started at the first such call and destroyed
when the activation ends.

Each notification gets a conversation of its own (one reply per notification), all
under the activation's deadline, iteration and cost caps. The final text is the answer
to that notification (a comment in its thread, under the comment it came from, or a
DM back), posted by the loop itself, so an agent with no Hub grants still answers its
mentions. ``NO_RESPONSE``
posts nothing. Done-markers ``reply:<notification id>`` let a retried activation skip
what it already answered without calling the model.

The coding CLIs (``shared.executors``) answer with the same pieces: ``system_prompt`` and
``user_message`` for their prompt, ``hub_tools`` behind the gateway's ``hub`` route,
``already_answered``, ``fetch_threads`` and ``post_final`` around the CLI's run.
"""

from shared.tools import DoneMarkers, reply_step

from ._answer import already_answered, fetch_threads, hub_tools, post_final, wrote
from ._loop import run_native
from ._prompt import allowed_skills, is_no_response, system_prompt, user_message
from ._types import NO_RESPONSE, LoopDeps, LoopFailed, LoopRequest, LoopResult, Outcome, Sandboxes

__all__ = [
    "NO_RESPONSE",
    "DoneMarkers",
    "LoopDeps",
    "LoopFailed",
    "LoopRequest",
    "LoopResult",
    "Outcome",
    "Sandboxes",
    "allowed_skills",
    "already_answered",
    "fetch_threads",
    "hub_tools",
    "is_no_response",
    "post_final",
    "reply_step",
    "run_native",
    "system_prompt",
    "user_message",
    "wrote",
]

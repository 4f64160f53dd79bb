"""The operator's view and controls: what each agent is doing, and pause, resume, reset, cancel.

::

    botburrow agents list|show ─┐                      ┌─► poller:agents, transcripts, usage/spend,
    GET /api/agents[/NAME]     ─┴─► Operator (reads) ──┤   budget, breaker, paused, open work, limits
                                                       └─► AgentState / AgentDetail (.as_dict())
    botburrow agents pause|resume, breaker reset,  ─┐
    activations cancel, consumption dead replay     ├─► Controls ─► {p}:paused, {p}:cancel:<id>,
    POST /agents/NAME/..., /activations/ID/cancel  ─┘      │        breaker, consumption outbox
                                                           └─► XADD {p}:audit (who, action, target, at, result)
    poller, runner ──► Steering.is_paused / is_cancelled

Errors (``shared.errors`` tree, permanent: the caller named something that is not there):
``UnknownAgent``, ``UnknownActivation``, ``UnknownDeadRecord``.
"""

from ._controls import AUDIT_MAXLEN, Controls, UnknownActivation, UnknownDeadRecord
from ._keys import CANCEL_TTL_S, OperatorKeys
from ._models import ActivationSummary, AgentDetail, AgentState, AuditEntry, BreakerState, Pause
from ._state import Operator, UnknownAgent, summarize
from ._steering import PAUSED_RETRY_S, Steering

__all__ = [
    "AUDIT_MAXLEN",
    "CANCEL_TTL_S",
    "PAUSED_RETRY_S",
    "ActivationSummary",
    "AgentDetail",
    "AgentState",
    "AuditEntry",
    "BreakerState",
    "Controls",
    "Operator",
    "OperatorKeys",
    "Pause",
    "Steering",
    "UnknownActivation",
    "UnknownAgent",
    "UnknownDeadRecord",
    "summarize",
]

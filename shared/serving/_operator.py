"""The operator's routes on a function's Flask app: agents' state and the audited controls.

======================================  =================================================
route                                   answer (JSON)
======================================  =================================================
``GET /api/agents``                     ``{"agents": [AgentState, ...]}``
``GET /api/agents/<name>``              ``AgentDetail``, 404 for an unknown agent
``GET /api/audit?limit=N``              ``{"entries": [AuditEntry, ...]}``, newest first (N ≤ 10,000)
``POST /agents/<name>/pause``           the ``AuditEntry`` recorded; 404 for an unknown agent
``POST /agents/<name>/resume``          the same
``POST /agents/<name>/breaker/reset``   the same
``POST /activations/<id>/cancel``       the same; 404 for an unknown activation
======================================  =================================================

Every route wants ``Authorization: Bearer <OPERATOR_TOKEN>`` (``_auth.operator_token``);
without it, or with another token, the answer is 401 and nothing is read or recorded.
The audit's ``who`` is ``http:<X-Operator>`` (the header, cut to 64 printable
characters), else ``http:operator``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flask
import structlog

from shared.definitions import agent_store
from shared.errors import ConfigurationError
from shared.operator import Controls, Operator, UnknownActivation, UnknownAgent
from shared.signing import Verdict
from shared.streams import Redis, StreamKeys

from . import _responses as responses
from ._auth import PushAuth, operator_token
from ._flask import to_flask
from ._responses import Answer
from ._target import FunctionTarget

log = structlog.get_logger("botburrow.serving")

OPERATOR_HEADER = "X-Operator"
_MAX_WHO = 64
MAX_AUDIT_LIMIT = 10_000
"""The most audit entries one ``GET /api/audit`` returns (a larger ``limit`` is a 400, not a Redis error)."""

_Work = Callable[[Operator, Controls], Awaitable[dict[str, Any]]]


def install_operator_routes(app: flask.Flask, target: FunctionTarget) -> None:
    """Add the operator's routes (see the module docstring) to ``app``."""
    auth = operator_token(target.settings)
    routes = _Routes(target, auth)
    app.add_url_rule("/api/agents", "operator_agents", routes.agents, methods=["GET"])
    app.add_url_rule("/api/agents/<name>", "operator_agent", routes.agent, methods=["GET"])
    app.add_url_rule("/api/audit", "operator_audit", routes.audit, methods=["GET"])
    controls = {
        "/agents/<name>/pause": "pause",
        "/agents/<name>/resume": "resume",
        "/agents/<name>/breaker/reset": "breaker_reset",
        "/activations/<name>/cancel": "cancel",
    }
    for rule, action in controls.items():
        app.add_url_rule(rule, f"operator_{action}", routes.control(action), methods=["POST"])


class _Routes:
    def __init__(self, target: FunctionTarget, auth: PushAuth) -> None:
        self.target = target
        self.auth = auth

    def agents(self) -> flask.Response:
        async def work(operator: Operator, _controls: Controls) -> dict[str, Any]:
            return {"agents": [state.as_dict() for state in await operator.agents()]}

        return self._answer(work)

    def agent(self, name: str) -> flask.Response:
        async def work(operator: Operator, _controls: Controls) -> dict[str, Any]:
            return (await operator.agent(name)).as_dict()

        return self._answer(work)

    def audit(self) -> flask.Response:
        limit = flask.request.args.get("limit", "100")
        if not limit.isdigit() or len(limit) > 6 or int(limit) > MAX_AUDIT_LIMIT:
            problem = f"limit must be a whole number up to {MAX_AUDIT_LIMIT}"
            return to_flask(Answer(400, {"error": "invalid_limit", "problem": problem}))

        async def work(_operator: Operator, controls: Controls) -> dict[str, Any]:
            return {"entries": [entry.as_dict() for entry in await controls.audit(limit=int(limit))]}

        return self._answer(work)

    def control(self, action: str) -> Callable[[str], flask.Response]:
        def route(name: str) -> flask.Response:
            who = _who(flask.request.headers.get(OPERATOR_HEADER))

            async def work(_operator: Operator, controls: Controls) -> dict[str, Any]:
                do = {
                    "pause": controls.pause,
                    "resume": controls.resume,
                    "breaker_reset": controls.reset_breaker,
                    "cancel": controls.cancel,
                }[action]
                return (await do(name, who=who)).as_dict()

            return self._answer(work)

        route.__name__ = f"operator_{action}"
        return route

    def _answer(self, work: _Work) -> flask.Response:
        refused = self._refused()
        if refused is not None:
            return refused
        settings = self.target.settings

        async def run(redis: Redis, keys: StreamKeys) -> dict[str, Any]:
            try:
                agents = agent_store(settings.agents, redis, prefix=keys.prefix)
            except ConfigurationError:
                agents = None  # the agents the poller saw, without their definitions
            operator = Operator(redis, keys=keys, agents=agents)
            return await work(operator, Controls(redis, keys=keys, operator=operator))

        try:
            body = self.target.run(run)
        except UnknownAgent as exc:
            return to_flask(Answer(404, {"error": "unknown_agent", "problem": str(exc)}))
        except UnknownActivation as exc:
            return to_flask(Answer(404, {"error": "unknown_activation", "problem": str(exc)}))
        return to_flask(Answer(200, body))

    def _refused(self) -> flask.Response | None:
        verdict = self.auth.check(b"", signature=None, authorization=flask.request.headers.get("Authorization"))
        if verdict:
            return None
        log.info("http.operator_refused", function=self.target.name, verdict=str(verdict))
        if not self.auth.configured:
            return to_flask(
                responses.unauthenticated("no OPERATOR_TOKEN is configured: the operator routes refuse every request")
            )
        if verdict is Verdict.MISMATCH:
            return to_flask(responses.unauthenticated("the token does not match"))
        return to_flask(responses.unauthenticated("no credential: send Authorization: Bearer <OPERATOR_TOKEN>"))


def _who(header: str | None) -> str:
    """``http:`` and the ``X-Operator`` header (printable, cut), else ``http:operator``."""
    name = "".join(c for c in (header or "") if c.isprintable() and not c.isspace())[:_MAX_WHO]
    return f"http:{name or 'operator'}"

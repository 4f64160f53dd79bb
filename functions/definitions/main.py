r"""The definitions function as a functions-framework target: the signed push webhook and the sync tick.

::

    functions-framework --source functions/definitions/main.py --target definitions \
      --signature-type cloudevent --port 8080

- ``POST /webhook``: an agent-definitions repository's GitHub push webhook, signed with
  ``DEFINITIONS_WEBHOOK_SECRET`` (``X-Hub-Signature-256``); invalidates the agents the
  push touched in every process (``shared.definitions.answer_webhook`` has the answers);
- ``POST /``: the PingSource tick (``dev.knative.sources.ping``, and nothing else: a
  change comes through the signed webhook), which syncs ``SYNC_SOURCES`` into the bucket;
- ``GET /healthz``, ``/readyz``, ``/metrics``.
"""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.http import CloudEvent

from shared.definitions import EVENT_HEADER, answer_webhook, definitions_changed
from shared.errors import InvalidEvent
from shared.events import PING
from shared.serving import serve, start_target, sync_ticks
from shared.signing import SIGNATURE_HEADER

HANDLER = "functions.definitions.handler:handler"

target = start_target("definitions", handler=HANDLER, auth=sync_ticks)


@functions_framework.cloud_event
def definitions(event: CloudEvent) -> None:
    """Run one sync tick."""
    if event["type"] != PING:
        raise InvalidEvent("type", f"POST / takes the sync tick ({PING}) only; changes come signed to /webhook")
    serve(target, event)


def webhook() -> flask.Response:
    """Check the signature, answer, and hand what to invalidate to the handler."""
    request = flask.request
    answer = answer_webhook(
        target.settings.definitions.webhook_secret,
        request.get_data(),
        signature=request.headers.get(SIGNATURE_HEADER),
        event=request.headers.get(EVENT_HEADER),
        content_type=request.content_type,
    )
    if answer.invalidation is not None and not answer.invalidation.empty:
        target.handle(definitions_changed(answer.invalidation))
    response = flask.jsonify(answer.body)
    response.status_code = answer.status
    return response


if flask.has_app_context():
    flask.current_app.add_url_rule("/webhook", "webhook", webhook, methods=["POST"])

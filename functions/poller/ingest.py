r"""Ingest as a functions-framework CloudEvent target: the Hub's webhook, many at once.

Its own Knative Service (``knative/ingest.yaml``, ``containerConcurrency`` far above
one), so a pushed notification never waits behind the poller's minute-long tick. The
handler is the poller's own (``HANDLER``, ``handlers.ingest_handler``): ``Poller.ingest``
queues the activation at once, without the poller lease::

    functions-framework --source functions/poller/ingest.py --target ingest --signature-type cloudevent --port 8080
    gunicorn --bind :8080 --threads 32 --timeout 0 --graceful-timeout 60 \
      'functions_framework:create_app(target="ingest", source="functions/poller/ingest.py")'

Every push is authenticated before it is parsed: the Hub signs the body
(``X-Hub-Signature-256``, ``HUB_WEBHOOK_SECRET``), an operator's curl sends
``Authorization: Bearer`` ``INGEST_TOKEN``; anything else is a 401 and queues nothing.
Besides ``POST /``: ``GET /healthz``, ``/readyz``, ``/metrics``.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import hub_webhook, serve, start_target

HANDLER = "functions.poller.handlers:ingest_handler"

target = start_target("ingest", handler=HANDLER, auth=hub_webhook)


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    """Handle one ``notification.created``: the activation it calls for goes on the streams at once."""
    serve(target, event)

r"""Ingest as a functions-framework CloudEvent target: the Hub's webhook, many at once.

Its own Knative Service (``knative/ingest.yaml``, ``containerConcurrency`` far above
one), so a pushed notification never waits behind the poller's minute-long tick. The
handler is the poller's own (``HANDLER``, ``handlers.ingest_handler``): ``Poller.ingest``
queues the activation at once, without the poller lease.

The functions-framework target ``ingest`` serves the handler through Flask (what
``python -m functions ingest`` runs today); ``app``, the same target as an ASGI
application, serves it on uvicorn's own loop with no thread hand-offs per webhook
(``shared.serving._asgi``; ``functions/__main__.py`` says why it is not the default)::

    uvicorn functions.poller.ingest:app --host 0.0.0.0 --port 8080 --lifespan on --no-access-log
    functions-framework --source functions/poller/ingest.py --target ingest --signature-type cloudevent --port 8080

Every push is authenticated before it is parsed: the Hub signs the body
(``X-Hub-Signature-256``, ``HUB_WEBHOOK_SECRET``), an operator's curl sends
``Authorization: Bearer`` ``INGEST_TOKEN``; anything else is a 401 and queues nothing.
Besides ``POST /``: ``GET /healthz``, ``/readyz``, ``/metrics``.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import asgi_app, hub_webhook, serve, start_target

HANDLER = "functions.poller.handlers:ingest_handler"

target = start_target("ingest", handler=HANDLER, auth=hub_webhook)
app = asgi_app(target)


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    """Handle one ``notification.created``: the activation it calls for goes on the streams at once."""
    serve(target, event)

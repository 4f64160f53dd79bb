r"""The runner as a functions-framework CloudEvent target: one activation per POST.

The handler is the one the pump feeds (``RUNNER_HANDLER``, a handler factory), so
``curl`` reaches exactly what the streams reach::

    functions-framework --source functions/runner/main.py --target runner --signature-type cloudevent --port 8080
    # long activations: gunicorn directly, so SIGTERM leaves them time to finish
    gunicorn --bind :8080 --threads 16 --timeout 0 --graceful-timeout 330 \
      'functions_framework:create_app(target="runner", source="functions/runner/main.py")'
    # or as an ASGI app (``app``: the handler on uvicorn's loop, no thread hand-offs)
    uvicorn functions.runner.main:app --port 8080 --lifespan on --timeout-graceful-shutdown 330

A POST must carry ``Authorization: Bearer <EVENTS_TOKEN>`` (else 401, before parsing).
Besides ``POST /`` (binary or structured CloudEvent): ``GET /healthz``, ``/readyz``,
``/metrics``. Settings come from the environment once, here (see ``shared.settings``).
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import asgi_app, events_token, serve, start_target

target = start_target("runner", auth=events_token)  # RUNNER_HANDLER: the handler the pump feeds
app = asgi_app(target)


@functions_framework.cloud_event
def runner(event: CloudEvent) -> None:
    """Handle one ``activation.requested``; its completed event goes to the results stream."""
    serve(target, event)

"""The poller function: PingSource ticks and pushed Hub notifications become activation requests.

``handlers`` holds the CloudEvent handlers (``PollerHandlers.handle_ping`` and
``handle_notification``) and the factories that build them; two functions-framework
targets feed them over HTTP, each its own Knative Service: ``main`` (``poller``, the
ticks, one at a time) and ``ingest`` (the Hub's webhook, many at once).
"""

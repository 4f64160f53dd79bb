"""The poller function: PingSource ticks and pushed Hub notifications become activation requests.

``handlers`` holds the CloudEvent handlers (``PollerHandlers.handle_ping`` and
``handle_notification``) and the factory ``handler(runtime)`` that builds them; the
functions-framework target in ``main`` feeds them over HTTP.
"""

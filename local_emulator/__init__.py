"""The one-command local platform: ``python -m local_emulator`` (``make run``).

- ``_emulator``: the supervisor (every service a real process, stopped by process group),
  PingSource ticks and the runner scaling; ``_children``, ``_redis``, ``_status``, ``_pod``
  its parts (child processes, which Redis, the live status, a runner with its imports done);
- ``keda``: KEDA's and the HPA's scaling rules for a ScaledObject, and the figures they read;
- ``queue_proxy``: Knative's queue-proxy in front of each function, with each Service's
  ``containerConcurrency`` from ``knative/*.yaml``;
- ``hub``: the mock Hub; ``fake_llm``: the fake Anthropic and OpenAI endpoints;
- ``redis_server``: a private, throwaway ``redis-server``;
- ``demo_agents/``: the agents it runs by default.

Each of ``hub`` and ``fake_llm`` is usable from tests and runnable alone with ``python -m``.
"""

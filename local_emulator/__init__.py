"""The one-command local platform (Redis, mock Hub, fake LLM, Knative/KEDA emulation).

So far: the real-``redis-server`` launcher (``redis_server``), the mock Hub
(``local_emulator.hub``) and the fake LLM (``local_emulator.fake_llm``), each usable from
tests and runnable alone with ``python -m``.
"""

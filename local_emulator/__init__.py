"""The one-command local platform (Redis, mock Hub, fake LLM, Knative/KEDA emulation).

For now it holds the real-``redis-server`` launcher used by tests and benchmarks.
"""

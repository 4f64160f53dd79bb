"""The runner: a stream pump feeding a handler of one CloudEvent.

``python -m functions.runner`` (or ``botburrow-runner``) consumes the activation
streams until SIGTERM. The handler is chosen by ``RUNNER_HANDLER``; until the
activation handler lands it defaults to the no-op handler in ``noop``.
"""

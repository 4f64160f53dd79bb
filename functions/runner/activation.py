"""``RUNNER_HANDLER=functions.runner.activation:handler``: the real runner (the default)."""

from shared.activation import activation_handler as handler

__all__ = ["handler"]

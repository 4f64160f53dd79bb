"""The runner's activation: one ``com.botburrow.activation.requested`` event, end to end.

``activation_handler`` is the handler factory the runner process and its HTTP target
use; ``handle_activation`` is the handler itself, a plain function of one CloudEvent
and the process's ``ActivationDeps``. See ``_activation`` for the steps and
``docs/activation.md`` for the seams with the loop, limits, accounting and poller.
"""

from ._activation import handle_activation
from ._deps import ActivationDeps, BreakerRecord
from ._factory import activation_handler
from ._providers import Providers

__all__ = [
    "ActivationDeps",
    "BreakerRecord",
    "Providers",
    "activation_handler",
    "handle_activation",
]

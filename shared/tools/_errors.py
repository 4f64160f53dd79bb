"""The one error a tool raises to tell the model what went wrong."""

from __future__ import annotations


class ToolInputError(Exception):
    """A tool call that cannot be done as asked: bad arguments, a refusal, a failure the model can act on.

    Its message goes back to the model as an ``is_error`` tool result (``error: <message>``);
    it is never a failure of the activation. Anything else a tool raises (the Hub or the
    sandbox unavailable, a revoked key) propagates to the activation, which decides.
    """

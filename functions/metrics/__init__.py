"""The metrics function: accounts completed activations and reports consumption to the Hub.

``handler`` (in ``handler``) is the handler factory: the pump (group ``metrics`` on
``botburrow:results``) or functions-framework feed its handler one
``com.botburrow.activation.completed`` event at a time, and a flusher task beside it
reports the consumption outbox to the Hub.
"""

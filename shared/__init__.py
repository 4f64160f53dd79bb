"""The runtime library every botburrow function imports.

Transport (``shared.events``, ``shared.streams``) sits at the bottom and knows
nothing of the Hub, LLMs or sandboxes; the activation logic sits above it.
"""

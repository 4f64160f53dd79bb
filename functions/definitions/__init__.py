"""The definitions function: the push webhook that invalidates agent definitions, and the sync tick.

``POST /webhook`` (a GitHub push webhook, signed) bumps the versions every process's
``AgentStore`` follows; ``POST /`` takes the PingSource tick, which syncs ``SYNC_SOURCES``
into the bucket (``handler`` has the handler factory, ``main`` the functions-framework target).
"""

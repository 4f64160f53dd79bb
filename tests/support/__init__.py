"""The test kit: one of each thing the suites share.

- where things are and what this run insists on: ``ROOT``, ``FIXTURES``, ``CI``, ``require``,
  ``free_port``;
- environments: ``child_env`` (a child gets an allow-list plus what it is given, never
  ``os.environ`` whole) and the credential guard the session applies (``strip_credentials``);
- the mock Hub and a client for it: ``mock_hub``, ``hub_client``, ``Sleeps``, ``api_requests``
  (the fixtures ``hub``, ``server``, ``hub_agents`` are in ``tests/conftest.py``);
- time: ``Clock`` (the ``clock`` fixture), ``eventually`` and ``eventually_sync`` in place of
  sleeping before an assertion;
- streams: ``fast_settings``; handlers: ``tests.support.handlers``.
"""

from ._env import CHILD_ALLOWED, CREDENTIAL_PATTERNS, child_env, is_credential, strip_credentials
from ._paths import CI, FIXTURES, ROOT, free_port, require
from .clock import Clock
from .hub import Sleeps, api_requests, hub_client, mock_hub
from .polling import eventually, eventually_sync
from .streams import fast_settings

__all__ = [
    "CHILD_ALLOWED",
    "CI",
    "CREDENTIAL_PATTERNS",
    "FIXTURES",
    "ROOT",
    "Clock",
    "Sleeps",
    "api_requests",
    "child_env",
    "eventually",
    "eventually_sync",
    "fast_settings",
    "free_port",
    "hub_client",
    "is_credential",
    "mock_hub",
    "require",
    "strip_credentials",
]

"""The live web view on the metrics function: ``/ui``, its data, and the sign-in that guards it.

::

    browser ──► GET /ui/login?token=T ──► Sessions (one-time token -> session cookie)
            ──► GET /ui, /ui/activations/ID  (static HTML/CSS/JS in ``static/``, no build step)
            ──► GET /ui/events (SSE) ──► XREAD results + activation streams ──► Snapshots
            ──► GET /ui/api/snapshot, /ui/api/activations/ID (JSON)
            ──► POST /ui/api/agents/NAME/pause|resume|breaker-reset ──► shared.operator.Controls

``Snapshots`` reads what ``shared.operator``, ``shared.streams`` and ``shared.transcripts``
keep, and the threads from the Hub. See ``_routes`` for the routes and their limits.
"""

from ._auth import COOKIE, LOGIN_TTL_S, SESSION_TTL_S, Sessions
from ._routes import MAX_STREAMS, STREAM_MAX_S, UI_HEADER, install_webview_routes
from ._snapshot import Snapshots

__all__ = [
    "COOKIE",
    "LOGIN_TTL_S",
    "MAX_STREAMS",
    "SESSION_TTL_S",
    "STREAM_MAX_S",
    "UI_HEADER",
    "Sessions",
    "Snapshots",
    "install_webview_routes",
]

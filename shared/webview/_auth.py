"""Who may see the web view: the operator's bearer token, or a session a one-time login link opened.

::

    mint_login(redis) ──► SET {p}:webview:login:<sha256(token)> EX login_ttl_s
    GET /ui/login?token=T ──► GETDEL that key ──► SET {p}:webview:session:<sha256(sid)> EX session_ttl_s
                                              └─► Set-Cookie: botburrow_ui=<sid>; HttpOnly; SameSite=Strict
    any /ui route ──► Authorization: Bearer <OPERATOR_TOKEN>, or that cookie naming a live session

Only hashes of tokens and session ids are stored, so a copy of Redis opens nothing. A
login token works once (``GETDEL``); a session lasts ``session_ttl_s`` from its login.
"""

from __future__ import annotations

import hashlib
import secrets

from shared.streams import Redis, translated

LOGIN_TTL_S = 24 * 3600
"""How long a minted login link stays usable (it works once)."""
SESSION_TTL_S = 12 * 3600
"""How long a session opened by a login link lasts."""
COOKIE = "botburrow_ui"
"""The session cookie's name."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    """One-time login tokens and the sessions they open, in Redis under ``prefix``.

    Args:
        redis: the client (bytes replies).
        prefix: the streams prefix (``botburrow``).
        login_ttl_s: how long a minted token stays usable.
        session_ttl_s: how long a session lasts.
    """

    def __init__(
        self, redis: Redis, *, prefix: str, login_ttl_s: int = LOGIN_TTL_S, session_ttl_s: int = SESSION_TTL_S
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._login_ttl_s = login_ttl_s
        self._session_ttl_s = session_ttl_s

    def _login_key(self, token: str) -> str:
        return f"{self._prefix}:webview:login:{_digest(token)}"

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}:webview:session:{_digest(session_id)}"

    async def mint_login(self) -> str:
        """A new one-time login token, usable for ``login_ttl_s``.

        Raises:
            StreamUnavailable: Redis failed.
        """
        token = secrets.token_urlsafe(24)
        async with translated("SET webview login"):
            await self._redis.set(self._login_key(token), b"1", ex=self._login_ttl_s)
        return token

    async def consume_login(self, token: str) -> str | None:
        """A new session's id when ``token`` is a live login token (used up now), else ``None``.

        Raises:
            StreamUnavailable: Redis failed.
        """
        if not token or len(token) > 200:
            return None
        async with translated("GETDEL webview login"):
            found = await self._redis.getdel(self._login_key(token))
        if found is None:
            return None
        session_id = secrets.token_urlsafe(32)
        async with translated("SET webview session"):
            await self._redis.set(self._session_key(session_id), b"1", ex=self._session_ttl_s)
        return session_id

    async def valid(self, session_id: str | None) -> bool:
        """Whether ``session_id`` names a live session.

        Raises:
            StreamUnavailable: Redis failed.
        """
        if not session_id or len(session_id) > 200:
            return False
        async with translated("EXISTS webview session"):
            return bool(await self._redis.exists(self._session_key(session_id)))

    @property
    def session_ttl_s(self) -> int:
        """How long a session lasts (the cookie's ``Max-Age``)."""
        return self._session_ttl_s

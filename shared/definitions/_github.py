"""A ``github:owner/repo[@ref]`` source, read through the GitHub contents API.

``GET {api}/repos/{owner}/{repo}/contents/{path}?ref={ref}`` lists a folder (JSON) or,
with ``Accept: application/vnd.github.raw+json``, gives a file's bytes. Only ``agents/``
and ``skills/`` are walked; symlinks and submodules are skipped. The base URL
(``SYNC_GITHUB_API_URL``) is a setting, so a GitHub Enterprise server or a local fake
stands in; the token (``SYNC_GITHUB_TOKEN``) is sent as a bearer token and never logged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shared.errors import ConfigurationError, TransientError
from shared.settings import Secret, SyncSource

_JSON = "application/vnd.github+json"
_RAW = "application/vnd.github.raw+json"
_TOPS = ("agents", "skills")


def fetch_github(source: SyncSource, into: Path, *, api_url: str, token: Secret | None, timeout_s: float) -> Path:
    """Write ``source``'s ``agents/`` and ``skills/`` below ``into`` (created) and return it (blocking).

    Raises:
        ConfigurationError: GitHub refused the token (401/403) or the repository is unknown (404).
        TransientError: GitHub could not be reached, timed out, or said 429/5xx.
    """
    headers = {"X-GitHub-Api-Version": "2022-11-28", "User-Agent": "botburrow-sync"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.reveal()}"
    into.mkdir(parents=True)
    with httpx.Client(base_url=api_url, headers=headers, timeout=timeout_s) as http:
        reader = _Reader(http, source)
        reader.repository()
        for top in _TOPS:
            reader.folder(top, into)
    return into


class _Reader:
    def __init__(self, http: httpx.Client, source: SyncSource) -> None:
        self._http = http
        self._source = source
        self._params = {"ref": source.ref} if source.ref else {}

    def repository(self) -> None:
        self._get(f"/repos/{self._source.location}", accept=_JSON, missing_ok=False)

    def folder(self, path: str, into: Path) -> None:
        listing = self._get(self._contents(path), accept=_JSON, missing_ok=True)
        if listing is None:
            return
        items: Any = listing.json()
        if not isinstance(items, list):
            return  # a file where a folder was expected: nothing of the layout here
        for item in items:
            name, kind = item.get("name"), item.get("type")
            if not isinstance(name, str) or not name or name in {".", ".."} or "/" in name or "\\" in name:
                raise TransientError(f"sync source {self._source}: GitHub listed an unusable name under {path}")
            if kind == "dir":
                self.folder(f"{path}/{name}", into)
            elif kind == "file":
                answer = self._get(self._contents(f"{path}/{name}"), accept=_RAW, missing_ok=False)
                assert answer is not None
                target = into.joinpath(*path.split("/"), name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(answer.content)

    def _contents(self, path: str) -> str:
        return f"/repos/{self._source.location}/contents/{quote(path)}"

    def _get(self, url: str, *, accept: str, missing_ok: bool) -> httpx.Response | None:
        where = f"sync source {self._source}: GET {url}"
        try:
            answer = self._http.get(url, params=self._params, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise TransientError(f"{where} failed: {type(exc).__name__}") from exc
        if answer.status_code == 404 and missing_ok:
            return None
        if answer.status_code in {403, 429} and answer.headers.get("x-ratelimit-remaining") == "0":
            raise TransientError(f"{where}: rate limited", retry_after_s=_reset_in(answer))
        if answer.status_code in {401, 403, 404}:
            raise ConfigurationError(f"{where}: {answer.status_code} (is the token allowed to read the repository?)")
        if answer.status_code >= 300:
            raise TransientError(f"{where}: {answer.status_code}")
        return answer


def _reset_in(answer: httpx.Response) -> float | None:
    """Seconds until GitHub's rate limit resets (``Retry-After``, else ``x-ratelimit-reset``), if it said."""
    retry_after = answer.headers.get("retry-after", "")
    if retry_after.isdigit():
        return float(retry_after)
    reset = answer.headers.get("x-ratelimit-reset", "")
    return max(0.0, float(reset) - time.time()) if reset.isdigit() else None

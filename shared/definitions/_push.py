"""What a push webhook invalidates: ``Invalidation`` from GitHub's push payload or ``{"all": true}``.

The rules, in order:

* ``{"all": true}``: every agent (an operator's curl, a CI job that rewrote the bucket);
* ``forced`` (history rewritten: the commits listed are not all that changed), ``deleted``,
  ``commits`` missing or not a list of commit objects, or GitHub's cap of 2048 commits
  reached: every agent;
* otherwise the paths in ``commits[].added``, ``modified`` and ``removed``: a path
  ``agents/<name>/...`` invalidates agent ``<name>``; a path under ``skills/`` invalidates
  every agent (skills are shared); a path under ``agents/`` whose name is no possible
  agent name, or one that is not text, invalidates every agent (it cannot be read, so
  nothing is assumed); any other path (``README.md``, ``.github/``) invalidates nothing.

Paths are of the repository's root, the agent-definitions layout.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.agents import is_agent_name
from shared.errors import InvalidEvent

GITHUB_COMMITS_CAP = 2048
"""The most commits GitHub lists in one push payload."""
_CHANGES = ("added", "modified", "removed")


@dataclass(frozen=True, kw_only=True)
class Invalidation:
    """The agents a change calls for reloading: some by name, or all (``everything``)."""

    agents: frozenset[str] = field(default_factory=frozenset)
    everything: bool = False
    reason: str = ""

    @property
    def empty(self) -> bool:
        """Whether nothing is to be invalidated."""
        return not self.everything and not self.agents

    def as_json(self) -> dict[str, Any]:
        """``{"all": bool, "agents": [sorted names], "reason": str}``."""
        return {"all": self.everything, "agents": sorted(self.agents), "reason": self.reason}


def parse_body(body: bytes, *, content_type: str | None = None) -> dict[str, Any]:
    """The JSON object of a webhook's body (JSON, or GitHub's form encoding ``payload=<json>``).

    Raises:
        InvalidEvent: field ``body``: not JSON, or JSON that is not an object.
    """
    raw = body
    if (content_type or "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in form:
            raise InvalidEvent("body", "a form-encoded webhook must carry its JSON in the field 'payload'")
        raw = form["payload"][0].encode()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("body", f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("body", f"expected a JSON object, found {type(data).__name__}")
    return data


def invalidation_for(payload: Mapping[str, Any]) -> Invalidation:
    """What a push payload (or ``{"all": true}``) invalidates (see the module docstring).

    Raises:
        InvalidEvent: field ``body``: neither ``all`` nor ``commits`` is there to say.
    """
    if payload.get("all") is True:
        return Invalidation(everything=True, reason="asked for all")
    if "commits" not in payload:
        raise InvalidEvent("body", 'expected a GitHub push payload (commits[]) or {"all": true}')
    if payload.get("forced") is True or payload.get("deleted") is True:
        return Invalidation(everything=True, reason="forced push or deleted ref: the commits listed are not all")
    commits = payload.get("commits")
    if not isinstance(commits, list) or not all(isinstance(c, dict) for c in commits):
        return Invalidation(everything=True, reason="commits is not a list of commits")
    if len(commits) >= GITHUB_COMMITS_CAP:
        return Invalidation(everything=True, reason=f"{len(commits)} commits: GitHub lists no more")
    names: set[str] = set()
    for commit in commits:
        for change in _CHANGES:
            paths = commit.get(change, [])
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                return Invalidation(everything=True, reason=f"commits[].{change} is not a list of paths")
            for path in paths:
                name, all_because = _agent_of(path)
                if all_because:
                    return Invalidation(everything=True, reason=f"{path}: {all_because}")
                if name is not None:
                    names.add(name)
    return Invalidation(agents=frozenset(names), reason="paths of the pushed commits")


def _agent_of(path: str) -> tuple[str | None, str]:
    """The agent a changed path is of (None: no definition's), or why it concerns every agent."""
    top, _, rest = path.partition("/")
    if top == "skills":
        return None, "a skill changed"
    if top != "agents":
        return None, ""
    name, slash, _ = rest.partition("/")
    return (name, "") if slash and is_agent_name(name) else (None, "names no agent")

"""What one sync did: ``SyncReport`` (uploaded, deleted, unchanged, rejected, invalidated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._push import Invalidation


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """A unit (``agents/<name>`` or ``skills/<name>``) that failed validation, and why.

    ``file`` is a path of the layout (``skills/hub-post/SKILL.md``) in ``source``;
    ``field`` the dotted field at fault (empty when the whole file is).
    """

    unit: str
    source: str
    file: str
    field: str
    problem: str

    def as_json(self) -> dict[str, str]:
        """The JSON-ready form: every attribute."""
        return {name: getattr(self, name) for name in ("unit", "source", "file", "field", "problem")}


@dataclass(frozen=True, kw_only=True)
class SyncReport:
    """The outcome of one sync; keys are paths of the layout (without the bucket's prefix).

    ``problem`` says why the invalidation failed after the bucket was written (Redis
    unreachable): processes then see the change within their ``cache_ttl``.
    """

    uploaded: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    invalidated: Invalidation = field(default_factory=Invalidation)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing was rejected and the invalidation went out."""
        return not self.rejected and self.problem is None

    def as_json(self) -> dict[str, Any]:
        """One JSON object: the lists, ``rejected`` as objects, ``invalidated``, ``problem``, ``ok``."""
        return {
            "uploaded": list(self.uploaded),
            "deleted": list(self.deleted),
            "unchanged": list(self.unchanged),
            "rejected": [r.as_json() for r in self.rejected],
            "invalidated": self.invalidated.as_json(),
            "problem": self.problem,
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        """One line per upload, deletion and rejection, then a summary line."""
        lines = [f"uploaded   {path}" for path in self.uploaded]
        lines += [f"deleted    {path}" for path in self.deleted]
        for r in self.rejected:
            where = f"{r.file}: {r.field}" if r.field else r.file
            lines.append(f"rejected   {r.unit}  {r.source}: {where}: {r.problem}")
        inv = self.invalidated
        invalidated = "all agents" if inv.everything else (", ".join(sorted(inv.agents)) or "nothing")
        lines.append(
            f"{len(self.uploaded)} uploaded, {len(self.deleted)} deleted, {len(self.unchanged)} unchanged, "
            f"{len(self.rejected)} rejected; invalidated: {invalidated}"
        )
        if self.problem:
            lines.append(f"problem    {self.problem}")
        return lines

"""What loading every agent found: the agents that loaded and the ones that did not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import InvalidAgent

if TYPE_CHECKING:
    from ._loader import AgentDefinition


@dataclass(frozen=True, slots=True)
class LoadReport:
    """The agents that loaded, by name, and the ones that did not, with why."""

    agents: dict[str, AgentDefinition]
    invalid: list[InvalidAgent]

    @property
    def ok(self) -> bool:
        """Whether every agent loaded."""
        return not self.invalid

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per agent, sorted by name.

        ``{"name", "valid": true, "missing_skills"}`` or
        ``{"name", "valid": false, "file", "field", "problem"}``.
        """
        rows: list[dict[str, Any]] = [
            {"name": name, "valid": True, "missing_skills": list(d.missing_skills)} for name, d in self.agents.items()
        ]
        rows += [
            {"name": e.name, "valid": False, "file": e.file, "field": e.field, "problem": e.problem}
            for e in self.invalid
        ]
        return sorted(rows, key=lambda row: str(row["name"]))

    def lines(self) -> list[str]:
        """One line of text per agent, sorted by name.

        ``ok       <name>`` (plus ``  (skill not found: a, b)`` when a listed skill is missing) or
        ``invalid  <name>  <file>: <field>: <problem>``.
        """
        lines = []
        for row in self.rows():
            if row["valid"]:
                missing = f"  (skill not found: {', '.join(row['missing_skills'])})" if row["missing_skills"] else ""
                lines.append(f"ok       {row['name']}{missing}")
            else:
                where = f"{row['file']}: {row['field']}" if row["field"] else row["file"]
                lines.append(f"invalid  {row['name']}  {where}: {row['problem']}")
        return lines

"""``Executors``: the executor of each agent ``type``, and which of them cannot run here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.errors import PermanentError

from ._types import Executor


def unknown_type(agent_type: str, known: Iterable[str]) -> str:
    """Why an agent of ``agent_type`` cannot run: no executor of that type among ``known``."""
    return f"no executor runs agents of type {agent_type!r} (known: {', '.join(known)})"


class ExecutorUnavailable(PermanentError):
    """The agent's type has no executor in this deployment (unknown, or its CLI is not installed)."""


class Executors:
    """The executors of one runner process, by the agent ``type`` each runs."""

    def __init__(self, executors: Iterable[Executor]) -> None:
        self._by_type: dict[str, Executor] = {e.name: e for e in executors}

    @property
    def types(self) -> list[str]:
        """The agent types with an executor (available or not)."""
        return list(self._by_type)

    def unavailable(self, agent_type: str) -> str | None:
        """Why agents of ``agent_type`` cannot run here, or ``None`` when they can."""
        executor = self._by_type.get(agent_type)
        if executor is None:
            return unknown_type(agent_type, self._by_type)
        return executor.unavailable()

    def report(self) -> Mapping[str, str | None]:
        """Each type's reason it cannot run here (``None``: it can)."""
        return {name: e.unavailable() for name, e in self._by_type.items()}

    def for_type(self, agent_type: str) -> Executor:
        """The executor of ``agent_type``.

        Raises:
            ExecutorUnavailable: there is none, or it cannot run here; the message says why.
        """
        why = self.unavailable(agent_type)
        if why is not None:
            raise ExecutorUnavailable(why)
        return self._by_type[agent_type]

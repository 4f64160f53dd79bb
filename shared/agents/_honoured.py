"""Fields schema v1 accepts that this deployment does not act on: each is named at load, never silently ignored.

``not_honoured(config)`` lists them with the reason; the loader logs each as
``agents.field_not_honoured`` (agent, field, reason). A field left at its default is
never reported: only what an author wrote and might expect to matter.

Metadata (``version``, ``display_name``, ``description``) describes the agent to people and
changes no behaviour, so it is not reported either.
"""

from __future__ import annotations

from ._models import AgentConfig


def not_honoured(config: AgentConfig) -> list[tuple[str, str]]:
    """``(field, reason)`` for every field of ``config`` that an author set and nothing here honours."""
    found: list[tuple[str, str]] = []
    cli = config.type != "native"
    if cli and "temperature" in config.brain.model_fields_set:
        found.append(
            ("brain.temperature", f"a {config.type} agent's CLI chooses its own temperature; it is not told this one")
        )
    if config.memory.enabled:
        found.append(
            ("memory.enabled", "long-term memory is not implemented: nothing is remembered between activations")
        )
    if config.capabilities.spawning.can_propose:
        found.append(
            ("capabilities.spawning.can_propose", "proposing new agents is not implemented: no tool is offered for it")
        )
    shell = config.capabilities.shell
    if cli and shell.enabled and shell.blocked_patterns:
        found.append(
            (
                "capabilities.shell.blocked_patterns",
                f"a {config.type} agent's own shell tool is held by allowed_commands and the sandbox; "
                "blocked_patterns are checked by the built-in loop's shell tool only",
            )
        )
    if cli and config.type != "claude-code" and shell.enabled and "timeout_seconds" in shell.model_fields_set:
        found.append(
            (
                "capabilities.shell.timeout_seconds",
                f"a {config.type} agent's commands are bounded by the activation's deadline, not one by one",
            )
        )
    return found

"""OpenCode (npm ``opencode-ai``) run headless: ``opencode run --format json`` over a generated config.

::

    OPENCODE_CONFIG=/workspace/.botburrow/opencode.json opencode run --pure --format json PROMPT

Our extension of agent schema v1 (which lists ``native``, ``claude-code``, ``goose``,
``aider`` and ``custom``): the seed promised OpenCode, so ``type: opencode`` is accepted.

The config names one provider, ``botburrow``: ``@ai-sdk/anthropic`` (or
``@ai-sdk/openai-compatible`` for an ``openai`` brain) at the gateway, the activation
token as its key, the brain's model with our price table's rates (so its own cost figure
is comparable with the gateway's) and ``max_tokens`` as its output limit. The ``build``
agent gets the system prompt and ``max_iterations`` as its ``steps`` (OpenCode's limit is
soft: it asks the model to wrap up). Tools follow the grants, as for Claude Code: ``bash``
with ``shell.enabled`` (per program of ``allowed_commands``), the file tools with it or a
``filesystem`` grant, no web fetching; everything else refused, never asked about. The
Hub and the granted servers are ``remote`` MCP servers (their tools are
``<server>_<tool>``). Sharing and auto-update are off.

Output is JSONL: ``step_start``, ``text``, ``tool_use``, ``step_finish`` (per step:
``tokens`` and ``cost``) and ``error`` (``error.name``, ``error.data.message``); there is
no final summary, so the steps are summed and the last ``text`` is the answer.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from shared.gateway import Api
from shared.llm import Usage, price_table
from shared.sandbox import ExecResult

from ._output import count, error_ending, json_lines, tail
from ._types import CliCommand, CliJob, CliReport

PROVIDER = "botburrow"


class OpenCode:
    """The ``opencode`` executor's CLI."""

    name = "opencode"
    refusal_status = 402
    supports_mcp = True

    def api_for(self, provider: str) -> Api:
        return "openai" if provider == "openai" else "anthropic"

    def binary(self, cli_dir: Path) -> Path:
        return cli_dir / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"

    def command(self, job: CliJob) -> CliCommand:
        config_file = f"{job.config_dir}/opencode.json"
        argv = [str(self.binary(job.cli_dir)), "run", "--pure", "--format", "json", job.prompt]
        env = {
            "HOME": job.home,
            "OPENCODE_CONFIG": config_file,
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "TMPDIR": f"{job.home}/tmp",
        }
        body = orjson.dumps(config(job, self.api_for(job.agent.config.brain.provider)))
        return CliCommand(argv=argv, env=env, files={config_file: body})

    def parse(self, result: ExecResult) -> CliReport:
        events = json_lines(result.stdout)
        steps = [e.get("part") or {} for e in events if e.get("type") == "step_finish"]
        texts = [str((e.get("part") or {}).get("text", "")) for e in events if e.get("type") == "text"]
        errors = [e.get("error") or {} for e in events if e.get("type") == "error"]
        usage, cost = _totals(steps)
        report: dict[str, Any] = {"turns": len(steps), "usage": usage if steps else None, "cost_usd": cost}
        if errors:
            error = errors[-1]
            data: dict[str, Any] = error["data"] if isinstance(error.get("data"), dict) else {}
            said = f"{error.get('name', 'error')}: {data.get('message') or tail(result.stderr)}"
            status = data.get("statusCode")
            if status is not None:
                said += f" (HTTP {status})"
            return CliReport(ending=error_ending(said), reason=f"opencode: {said[:500]}", **report)
        if result.exit_code != 0:
            return CliReport(
                ending="failed", reason=f"opencode exited {result.exit_code}: {tail(result.stderr)}", **report
            )
        if not steps:
            return CliReport(ending="malformed", reason=f"no step in opencode's output: {tail(result.stdout)}")
        last = steps[-1]
        if last.get("reason") == "length":
            return CliReport(ending="failed", reason="opencode: the answer was cut at max_tokens", **report)
        return CliReport(ending="ok", text=texts[-1] if texts else "", **report)


def config(job: CliJob, api: Api) -> dict[str, Any]:
    """The ``opencode.json`` of one run."""
    model: dict[str, Any] = {"name": job.model, "limit": {"context": 200_000, "output": job.max_tokens}}
    priced = price_table().lookup(job.model)
    if priced is not None:
        p = priced[1]
        model["cost"] = {
            "input": float(p.input),
            "output": float(p.output),
            "cache_write": float(p.cache_write),
            "cache_read": float(p.cache_read),
        }
    npm = "@ai-sdk/anthropic" if api == "anthropic" else "@ai-sdk/openai-compatible"
    return {
        "$schema": "https://opencode.ai/config.json",
        "model": f"{PROVIDER}/{job.model}",
        "autoupdate": False,
        "share": "disabled",
        "provider": {
            PROVIDER: {
                "npm": npm,
                "name": "Botburrow gateway",
                "options": {"baseURL": f"{job.base_url}/v1", "apiKey": job.token},
                "models": {job.model: model},
            }
        },
        "agent": {"build": {"prompt": job.system, "steps": max(1, job.max_turns)}},
        "permission": _permission(job),
        "mcp": {
            name: {"type": "remote", "url": url, "enabled": True, "headers": {"Authorization": f"Bearer {job.token}"}}
            for name, url in job.mcp.items()
        },
    }


def _permission(job: CliJob) -> dict[str, Any]:
    capabilities = job.agent.config.capabilities
    shell = capabilities.shell
    files = shell.enabled or any(g.startswith("filesystem:") for g in capabilities.grants)
    bash: str | dict[str, str] = "deny"
    if shell.enabled:
        bash = {
            "*": "deny",
            **{f"{c} *": "allow" for c in shell.allowed_commands},
            **{c: "allow" for c in shell.allowed_commands},
        }
        if not shell.allowed_commands:
            bash = "allow"
    return {
        "edit": "allow" if files else "deny",
        "read": "allow" if files else "deny",
        "bash": bash,
        "webfetch": "deny",
        "external_directory": "deny",
        "doom_loop": "deny",
    }


def _totals(steps: list[dict[str, Any]]) -> tuple[Usage, Decimal | None]:
    usage, cost, priced = Usage(), Decimal(0), False
    for step in steps:
        tokens: dict[str, Any] = step["tokens"] if isinstance(step.get("tokens"), dict) else {}
        cache: dict[str, Any] = tokens["cache"] if isinstance(tokens.get("cache"), dict) else {}
        usage = usage + Usage(
            input_tokens=count(tokens.get("input")),
            output_tokens=count(tokens.get("output")) + count(tokens.get("reasoning")),
            cache_write_tokens=count(cache.get("write")),
            cache_read_tokens=count(cache.get("read")),
        )
        if isinstance(step.get("cost"), int | float):
            cost += Decimal(str(step["cost"]))
            priced = True
    return usage, cost if priced else None

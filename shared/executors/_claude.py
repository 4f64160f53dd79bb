"""Claude Code (npm ``@anthropic-ai/claude-code``) run headless: ``claude -p`` with stream-json output.

::

    claude -p PROMPT --output-format stream-json --verbose --model M --max-turns N
           --system-prompt SYSTEM --mcp-config FILE --strict-mcp-config
           --tools BUILTINS --allowedTools ALLOWED [--max-budget-usd X]
           --no-session-persistence --permission-mode default

The environment points it at the gateway (``ANTHROPIC_BASE_URL``, the activation token as
``ANTHROPIC_API_KEY``) and turns off everything but the LLM's calls
(``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``, ``DISABLE_TELEMETRY``, no auto-update);
``MCP_CONNECTION_NONBLOCKING=0`` makes it list the MCP tools before its first request;
``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` is the brain's ``max_tokens`` (its own default, 32000,
would make every call's worst case pass a small cost cap).
Built-in tools follow the grants: the file tools with ``shell.enabled`` or a
``filesystem`` grant, ``Bash`` with ``shell.enabled``, allowed per program of
``shell.allowed_commands`` (``Bash(git:*)``), every command when that list is empty.
In print mode a tool that is not allowed is refused, never asked about.

The last stream-json line is the ``result``: ``result`` (the answer), ``subtype``
(``success``, ``error_max_turns``, ``error_max_budget_usd``, ``error_during_execution``),
``is_error``, ``num_turns``, ``total_cost_usd`` and ``modelUsage`` (per model, the four
token kinds; the top-level ``usage`` is zeros when the budget trips).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from shared.gateway import Api
from shared.llm import Usage
from shared.sandbox import ExecResult

from ._output import count, dollars, error_ending, json_lines, tail
from ._types import CliCommand, CliJob, CliReport

FILE_TOOLS = ("Read", "Write", "Edit", "Glob", "Grep")


class ClaudeCode:
    """The ``claude-code`` executor's CLI."""

    name = "claude-code"
    refusal_status = 402
    supports_mcp = True

    def api_for(self, provider: str) -> Api:
        return "anthropic"  # its only API; a brain of another provider is refused by the upstream

    def binary(self, cli_dir: Path) -> Path:
        return cli_dir / "node_modules" / "@anthropic-ai" / "claude-code-linux-x64" / "claude"

    def command(self, job: CliJob) -> CliCommand:
        mcp_file = f"{job.config_dir}/mcp.json"
        servers = {
            name: {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {job.token}"}}
            for name, url in job.mcp.items()
        }
        builtins, allowed = _builtin_tools(job)
        allowed += [f"mcp__{route}__{tool}" for route, tools in job.mcp_tools.items() for tool in tools]
        argv = [
            str(self.binary(job.cli_dir)),
            "-p",
            job.prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            job.model,
            "--max-turns",
            str(max(1, job.max_turns)),
            "--system-prompt",
            job.system,
            "--mcp-config",
            mcp_file,
            "--strict-mcp-config",
            "--tools",
            ",".join(builtins),
            "--no-session-persistence",
            "--permission-mode",
            "default",
        ]
        if allowed:
            argv += ["--allowedTools", ",".join(allowed)]
        if job.budget_usd > 0:
            argv += ["--max-budget-usd", f"{job.budget_usd:.4f}"]
        env = {
            "HOME": job.home,
            "ANTHROPIC_BASE_URL": job.base_url,
            "ANTHROPIC_API_KEY": job.token,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "MCP_CONNECTION_NONBLOCKING": "0",
            "CLAUDE_CODE_MAX_RETRIES": str(job.max_retries),
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(job.max_tokens),
            "TMPDIR": f"{job.home}/tmp",
        }
        if job.agent.config.capabilities.shell.enabled:  # shell.timeout_seconds, per command of its Bash tool
            timeout_ms = str(job.agent.config.capabilities.shell.timeout_seconds * 1000)
            env.update(BASH_DEFAULT_TIMEOUT_MS=timeout_ms, BASH_MAX_TIMEOUT_MS=timeout_ms)
        return CliCommand(argv=argv, env=env, files={mcp_file: orjson.dumps({"mcpServers": servers})})

    def parse(self, result: ExecResult) -> CliReport:
        events = json_lines(result.stdout)
        final = next((e for e in reversed(events) if e.get("type") == "result"), None)
        if final is None:
            if result.exit_code != 0:
                return CliReport(ending="failed", reason=f"claude exited {result.exit_code}: {tail(result.stderr)}")
            return CliReport(ending="malformed", reason=f"no result line in claude's output: {tail(result.stdout)}")
        subtype = str(final.get("subtype", ""))
        text = final.get("result")
        report: dict[str, Any] = {
            "turns": count(final.get("num_turns")),
            "cost_usd": dollars(final.get("total_cost_usd")),
            "usage": _usage(final),
        }
        if subtype == "error_max_turns":
            return CliReport(ending="max_turns", reason="claude reached its max turns", **report)
        if subtype == "error_max_budget_usd":
            return CliReport(ending="budget", reason="claude reached its --max-budget-usd", **report)
        if subtype != "success" or final.get("is_error") or result.exit_code != 0:
            said = text if isinstance(text, str) and text else ", ".join(map(str, final.get("errors") or [])) or subtype
            return CliReport(ending=error_ending(said), reason=f"claude: {said[:500]}", **report)
        if not isinstance(text, str):
            return CliReport(ending="malformed", reason="claude's result line has no text", **report)
        return CliReport(ending="ok", text=text, **report)


def _builtin_tools(job: CliJob) -> tuple[list[str], list[str]]:
    """``(the built-in tools offered, those allowed to run)`` from the shell policy and the grants."""
    capabilities = job.agent.config.capabilities
    shell = capabilities.shell
    files = shell.enabled or any(g.startswith("filesystem:") for g in capabilities.grants)
    builtins = [*(FILE_TOOLS if files else ()), *(("Bash",) if shell.enabled else ())]
    allowed = list(builtins)
    if shell.enabled and shell.allowed_commands:
        allowed = [t for t in allowed if t != "Bash"] + [f"Bash({c}:*)" for c in shell.allowed_commands]
    return builtins, allowed


def _usage(final: dict[str, Any]) -> Usage | None:
    models = final.get("modelUsage")
    if not isinstance(models, dict) or not models:
        return None
    total = Usage()
    for m in models.values():
        if isinstance(m, dict):
            total = total + Usage(
                input_tokens=count(m.get("inputTokens")),
                output_tokens=count(m.get("outputTokens")),
                cache_write_tokens=count(m.get("cacheCreationInputTokens")),
                cache_read_tokens=count(m.get("cacheReadInputTokens")),
            )
    return total

"""Goose (Block's ``goose`` CLI) run headless, built to its documented interface: not run here.

No registry this project can reach carries goose, so this executor has never been run
against the real binary: its command line and the parsing of its output are tested on
recorded output only (``tests/shared/executors``). With goose installed at
``CLI_DIR/goose/goose``, agents of ``type: goose`` run.

::

    goose run --no-session --quiet --output-format json --max-turns N
              --system SYSTEM -t PROMPT

The provider and model come from the environment (``GOOSE_PROVIDER``, ``GOOSE_MODEL``),
the gateway as ``ANTHROPIC_HOST`` (or ``OPENAI_HOST`` + ``OPENAI_BASE_PATH``), the
activation token as the API key, ``GOOSE_MODE=auto`` (tools run without asking; the
sandbox is the boundary) and no keyring. The Hub and the granted servers are
``streamable_http`` extensions in ``$HOME/.config/goose/config.yaml`` with the token as a
bearer header; the ``developer`` extension (shell and files) only with ``shell.enabled``.

``--output-format json`` prints one object: ``messages`` (the conversation, each with
``role`` and ``content`` parts, ``{"type": "text", "text": ...}`` among them) and
``metadata`` (``total_tokens``, ``status``). Goose reports no cost and no split of its
tokens by kind, so its own figures are not kept: the gateway's metering is the only one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from shared.gateway import Api
from shared.sandbox import ExecResult

from ._output import error_ending, json_lines, tail
from ._types import CliCommand, CliJob, CliReport


class Goose:
    """The ``goose`` executor's CLI."""

    name = "goose"
    refusal_status = 402
    supports_mcp = True

    def api_for(self, provider: str) -> Api:
        return "openai" if provider == "openai" else "anthropic"

    def binary(self, cli_dir: Path) -> Path:
        return cli_dir / "goose" / "goose"

    def command(self, job: CliJob) -> CliCommand:
        api = self.api_for(job.agent.config.brain.provider)
        extensions: dict[str, Any] = {
            name: {
                "enabled": True,
                "type": "streamable_http",
                "name": name,
                "uri": url,
                "headers": {"Authorization": f"Bearer {job.token}"},
                "timeout": 300,
            }
            for name, url in job.mcp.items()
        }
        if job.agent.config.capabilities.shell.enabled:
            extensions["developer"] = {"enabled": True, "type": "builtin", "name": "developer", "timeout": 300}
        config = {"extensions": extensions}
        argv = [
            str(self.binary(job.cli_dir)),
            "run",
            "--no-session",
            "--quiet",
            "--output-format",
            "json",
            "--max-turns",
            str(max(1, job.max_turns)),
            "--system",
            job.system,
            "-t",
            job.prompt,
        ]
        env = {
            "HOME": job.home,
            "GOOSE_PROVIDER": api,
            "GOOSE_MODEL": job.model,
            "GOOSE_MODE": "auto",
            "GOOSE_DISABLE_KEYRING": "1",
            "GOOSE_TELEMETRY_ENABLED": "false",
            "TMPDIR": f"{job.home}/tmp",
        }
        if api == "anthropic":
            env |= {"ANTHROPIC_HOST": job.base_url, "ANTHROPIC_API_KEY": job.token}
        else:
            env |= {"OPENAI_HOST": job.base_url, "OPENAI_BASE_PATH": "v1/chat/completions", "OPENAI_API_KEY": job.token}
        files = {f"{job.home}/.config/goose/config.yaml": yaml.safe_dump(config, sort_keys=False).encode()}
        return CliCommand(argv=argv, env=env, files=files)

    def parse(self, result: ExecResult) -> CliReport:
        found = [o for o in json_lines(result.stdout) if "messages" in o]
        if not found:
            try:  # the object may be pretty-printed over many lines
                whole = orjson.loads(result.stdout)
            except orjson.JSONDecodeError:
                whole = None
            found = [whole] if isinstance(whole, dict) and "messages" in whole else []
        if not found:
            if result.exit_code != 0:
                return CliReport(ending="failed", reason=f"goose exited {result.exit_code}: {tail(result.stderr)}")
            return CliReport(ending="malformed", reason=f"no JSON output from goose: {tail(result.stdout)}")
        out = found[-1]
        metadata: dict[str, Any] = out["metadata"] if isinstance(out.get("metadata"), dict) else {}
        status = str(metadata.get("status", ""))
        usage = None  # goose gives a total only, no split by kind: the gateway's metering is the figure
        messages = [m for m in out.get("messages") or [] if isinstance(m, dict)]
        turns = sum(1 for m in messages if m.get("role") == "assistant")
        last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
        text = (
            ""
            if last is None
            else "".join(
                str(p.get("text", ""))
                for p in last.get("content") or []
                if isinstance(p, dict) and p.get("type") == "text"
            )
        )
        if result.exit_code != 0 or status not in ("completed", ""):
            said = f"goose ended {status or 'with exit ' + str(result.exit_code)}: {text or tail(result.stderr)}"
            lowered = said.lower()
            if "max turns" in lowered or "max_turns" in lowered:
                return CliReport(ending="max_turns", reason=said[:500], turns=turns, usage=usage)
            return CliReport(ending=error_ending(said), reason=said[:500], turns=turns, usage=usage)
        if last is None:
            return CliReport(ending="malformed", reason="goose's output holds no assistant message", usage=usage)
        return CliReport(ending="ok", text=text, turns=turns, usage=usage)

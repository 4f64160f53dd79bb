"""Aider (PyPI ``aider-chat``) run headless: one ``--message``, its answer read from its plain output.

::

    aider --message TEXT --yes-always --no-git --no-stream --no-pretty --no-fancy-input
          --no-check-update --analytics-disable --no-show-release-notes --no-show-model-warnings
          --model anthropic/M (or openai/M) --model-metadata-file FILE --edit-format ask|diff

Aider has no MCP and no tool calling (it edits files from the model's text), so it gets
neither the Hub tools nor the granted servers (loading the agent notes them), and no
system prompt flag: the persona, skills and operating notes lead the message. It edits
workspace files (``--edit-format diff``) only with a ``filesystem:write`` grant; otherwise
it only answers (``ask``). The gateway is ``ANTHROPIC_API_BASE`` (or ``OPENAI_API_BASE``)
with the activation token as the key; the model metadata file gives it our prices and
``max_tokens`` (without one it fetches a price list from the internet), and the model
settings file makes it ask for ``max_tokens`` (else it asks for the model's most).
``COLUMNS`` is huge so the answer is printed unwrapped.

Its output: a header (``Aider v…``, ``Model:``, ``Git repo:``, ``Repo-map:``), the answer,
then ``Tokens: N sent, M received. Cost: $X message, $Y session.``. Aider exits 0 even
when every LLM call failed: a run with no ``Tokens:`` line whose output names a
``litellm`` error is an API failure, not an answer. ``max_iterations`` has no flag: aider
makes one call per message (and up to three more to fix edits it could not apply).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import orjson
import yaml

from shared.gateway import Api
from shared.llm import Usage, price_table
from shared.sandbox import ExecResult

from ._output import error_ending, tail
from ._types import CliCommand, CliJob, CliReport

_TOKENS = re.compile(
    r"^Tokens: (?P<sent>[\d.]+k?) sent(?:, (?P<write>[\d.]+k?) cache write)?(?:, (?P<hit>[\d.]+k?) cache hit)?, "
    r"(?P<received>[\d.]+k?) received\.(?: Cost: \$(?P<cost>[\d.]+) message)?",
    re.MULTILINE,
)
_HEADER = ("Aider v", "Model:", "Weak model:", "Editor model:", "Git repo:", "Repo-map:", "Analytics have been")
_ERROR = re.compile(r"^litellm\.\w+: .*$", re.MULTILINE)


class Aider:
    """The ``aider`` executor's CLI."""

    name = "aider"
    refusal_status = 400  # litellm reads a 402 as a connection error and retries it for a minute
    supports_mcp = False

    def api_for(self, provider: str) -> Api:
        return "openai" if provider == "openai" else "anthropic"

    def binary(self, cli_dir: Path) -> Path:
        return cli_dir / "aider" / ".venv" / "bin" / "aider"

    def command(self, job: CliJob) -> CliCommand:
        api = self.api_for(job.agent.config.brain.provider)
        model = f"{api}/{job.model}"
        metadata_file = f"{job.config_dir}/aider-models.json"
        settings_file = f"{job.config_dir}/aider-model-settings.yml"
        edits = "filesystem:write" in job.agent.config.capabilities.grants
        python = self.binary(job.cli_dir).with_name("python")  # the script's #! names the venv where it was made
        argv = [
            str(python),
            "-m",
            "aider",
            "--message",
            f"{job.system}\n\n{job.prompt}",
            "--yes-always",
            "--no-git",
            "--no-stream",
            "--no-pretty",
            "--no-fancy-input",
            "--no-check-update",
            "--analytics-disable",
            "--no-show-release-notes",
            "--no-show-model-warnings",
            "--model",
            model,
            "--model-metadata-file",
            metadata_file,
            "--model-settings-file",
            settings_file,
            "--edit-format",
            "diff" if edits else "ask",
            "--input-history-file",
            f"{job.config_dir}/aider.input.history",
            "--chat-history-file",
            f"{job.config_dir}/aider.chat.history.md",
        ]
        key = "ANTHROPIC" if api == "anthropic" else "OPENAI"
        base = job.base_url if api == "anthropic" else f"{job.base_url}/v1"
        env = {
            "HOME": job.home,
            f"{key}_API_KEY": job.token,
            f"{key}_API_BASE": base,
            "COLUMNS": "100000",
            "TMPDIR": f"{job.home}/tmp",
        }
        settings = [{"name": model, "extra_params": {"max_tokens": job.max_tokens}}]
        files = {
            metadata_file: orjson.dumps({model: _metadata(job, api)}),
            settings_file: yaml.safe_dump(settings).encode(),
        }
        return CliCommand(argv=argv, env=env, files=files)

    def parse(self, result: ExecResult) -> CliReport:
        out = result.stdout.decode("utf-8", "replace")
        tokens = list(_TOKENS.finditer(out))
        if not tokens:
            errors = _ERROR.findall(out)
            if errors:
                return CliReport(ending=error_ending(errors[-1]), reason=f"aider: {errors[-1][:500]}")
            if result.exit_code != 0:
                return CliReport(ending="failed", reason=f"aider exited {result.exit_code}: {tail(result.stderr)}")
            return CliReport(ending="malformed", reason=f"no Tokens: line in aider's output: {tail(result.stdout)}")
        last = tokens[-1]
        usage = Usage(
            input_tokens=_thousands(last["sent"]),
            output_tokens=_thousands(last["received"]),
            cache_write_tokens=_thousands(last["write"]),
            cache_read_tokens=_thousands(last["hit"]),
        )
        cost = sum((Decimal(m["cost"]) for m in tokens if m["cost"]), Decimal(0)) if last["cost"] else None
        text = _answer(out[: last.start()])
        return CliReport(ending="ok", text=text, turns=len(tokens), usage=usage, cost_usd=cost)


def _answer(before: str) -> str:
    """The answer: what aider printed after its header and before the last ``Tokens:`` line."""
    lines = before.splitlines()
    start = 0
    for i, line in enumerate(lines):
        if line.startswith(_HEADER) or line.startswith("https://aider.chat"):
            start = i + 1
    return "\n".join(lines[start:]).strip()


def _thousands(value: str | None) -> int:
    """``2.6k`` → 2600 (aider rounds what it prints), ``117`` → 117."""
    if not value:
        return 0
    return round(float(value[:-1]) * 1000) if value.endswith("k") else int(float(value))


def _metadata(job: CliJob, api: Api) -> dict[str, object]:
    entry: dict[str, object] = {
        "max_tokens": job.max_tokens,
        "max_output_tokens": job.max_tokens,
        "max_input_tokens": 200_000,
        "litellm_provider": api,
        "mode": "chat",
    }
    priced = price_table().lookup(job.model)
    if priced is not None:
        p = priced[1]
        million = Decimal(1_000_000)
        entry |= {
            "input_cost_per_token": float(p.input / million),
            "output_cost_per_token": float(p.output / million),
            "cache_creation_input_token_cost": float(p.cache_write / million),
            "cache_read_input_token_cost": float(p.cache_read / million),
        }
    return entry

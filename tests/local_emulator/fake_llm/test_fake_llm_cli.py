"""``python -m local_emulator.fake_llm``: help, serving on the printed URL, stopping on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import ROOT, child_env

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-m", "local_emulator.fake_llm"]


def test_help_describes_the_options() -> None:
    done = subprocess.run(
        [*COMMAND, "--help"], cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    for option in ("--port", "--host", "--script", "--api-key"):
        assert option in done.stdout


def test_it_serves_on_the_printed_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "scripts.yaml"
    script.write_text("name: greet\nsteps:\n  - text: scripted hello\n")
    process = subprocess.Popen(
        [*COMMAND, "--port", "0", "--script", str(script)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.fullmatch(r"fake llm serving on (http://127\.0\.0\.1:(\d+))\n", line)
        assert found, line
        url = found.group(1)
        assert int(found.group(2)) > 0
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert json.load(response) == {"status": "ok"}
        request = urllib.request.Request(
            f"{url}/v1/chat/completions",
            data=json.dumps({"model": "greet", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["choices"][0]["message"]["content"] == "scripted hello"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_an_unreadable_script_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scripts: [{name: x, steps: []}]\n")
    done = subprocess.run(
        [*COMMAND, "--script", str(bad)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot load" in done.stderr and "steps" in done.stderr

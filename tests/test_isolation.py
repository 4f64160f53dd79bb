"""No credential of the developer's reaches a test or a child a test starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT, child_env, is_credential

PRINT_ENV = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


@pytest.mark.parametrize(
    "name",
    [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "HUB_API_KEY",
        "HUB_URL",
        "ANTHROPIC_BASE_URL",
        "GITHUB_TOKEN",
        "GITHUB_TOKEN_WRITE",
        "BRAVE_API_KEY",
        "POSTGRES_URL_READ",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "REDIS_URL",
        "DATABASE_URL",
        "PGPASSWORD",
        "SSH_AUTH_SOCK",
        "my_service_secret",
        "GCP_PRIVATE_KEY_PEM",
    ],
)
def test_credential_looking_names_are_taken_out(name: str) -> None:
    assert is_credential(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "LANG", "TMPDIR", "CI", "DOCKER_HOST", "PYTHONDONTWRITEBYTECODE"])
def test_what_tests_and_children_need_stays(name: str) -> None:
    assert not is_credential(name)


def test_a_planted_key_never_reaches_a_child_built_by_child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Planted after the guard ran, as a developer's shell or a careless test would leave it.
    monkeypatch.setenv("PLANTED_API_KEY", "sk-planted-0123456789")
    monkeypatch.setenv("SOME_UNRELATED_SETTING", "x")
    assert os.environ["PLANTED_API_KEY"] == "sk-planted-0123456789"
    done = subprocess.run(
        PRINT_ENV, env=child_env(GIVEN="on purpose"), capture_output=True, text=True, timeout=30, check=True
    )
    seen = json.loads(done.stdout)
    assert "sk-planted-0123456789" not in done.stdout
    assert "PLANTED_API_KEY" not in seen and "SOME_UNRELATED_SETTING" not in seen, "only the allow-list is inherited"
    assert seen["GIVEN"] == "on purpose" and seen["PATH"] == os.environ["PATH"]


def test_the_guard_takes_planted_keys_out_before_any_test_runs() -> None:
    # A pytest session of its own, started with planted credentials as a developer's shell has them.
    planted = {
        "PLANTED_API_KEY": "sk-planted-0123456789",
        "GITHUB_TOKEN_WRITE": "ghp_planted",
        "AWS_SECRET_ACCESS_KEY": "planted/secret",
        "HUB_URL": "https://hub.example.invalid",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/support/env_probe.py"],
        cwd=ROOT,
        env=child_env(planted),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.startswith("credential guard:"))
    for name in planted:
        assert name in header, "the header names what was taken out"
    assert "sk-planted" not in done.stdout + done.stderr, "and never its value"

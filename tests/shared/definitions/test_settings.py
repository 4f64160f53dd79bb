"""The settings of definitions that follow their repository: sources parsed, secrets redacted, all documented."""

from __future__ import annotations

import re

import pytest

from shared.errors import ConfigurationError
from shared.logs import Redactor
from shared.settings import Settings, SyncSource, SyncSourceKind
from tests.support import ROOT

NEW = ("DEFINITIONS_WEBHOOK_SECRET", "SYNC_SOURCES", "SYNC_GITHUB_API_URL", "SYNC_GITHUB_TOKEN", "SYNC_GIT_TIMEOUT_S")


def test_sources_of_both_kinds_with_and_without_a_ref() -> None:
    raw = "github:botburrow/agent-definitions@main, https://git.example/defs.git , /srv/defs@v2,"
    raw += "git@github.com:o/r.git, git@github.com:o/r.git@release/1, file:///srv/other"
    settings = Settings.from_env({"SYNC_SOURCES": raw, "SYNC_GIT_TIMEOUT_S": "30"})
    github, git = SyncSourceKind.GITHUB, SyncSourceKind.GIT
    assert settings.definitions.sync_sources == (
        SyncSource(kind=github, location="botburrow/agent-definitions", ref="main"),
        SyncSource(kind=git, location="https://git.example/defs.git"),
        SyncSource(kind=git, location="/srv/defs", ref="v2"),
        SyncSource(kind=git, location="git@github.com:o/r.git"),
        SyncSource(kind=git, location="git@github.com:o/r.git", ref="release/1"),
        SyncSource(kind=git, location="file:///srv/other"),
    )
    assert settings.definitions.git_timeout_s == 30
    assert settings.definitions.github_api_url == "https://api.github.com"
    assert Settings.from_env({}).definitions.sync_sources == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("github:just-a-name", "item 1: github: must be followed by owner/repo"),
        ("/srv/defs, relative/path", "item 2: not github:owner/repo, a git URL"),
        ("--upload-pack=touch /tmp/x", "item 1: not github:owner/repo"),
        ("/srv/defs@--force", "item 1: @--force is not a branch, tag or commit name"),
        ("github:o/r@a..b", "is not a branch, tag or commit name"),
    ],
)
def test_a_bad_source_is_named(raw: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match="SYNC_SOURCES") as info:
        Settings.from_env({"SYNC_SOURCES": raw})
    assert problem in str(info.value)


def test_the_new_secrets_never_show_and_feed_the_log_redactor() -> None:
    values = {
        "DEFINITIONS_WEBHOOK_SECRET": "whsec-value-1234",
        "SYNC_GITHUB_TOKEN": "ghp-token-value-5678",
        "SYNC_SOURCES": "https://x-access-token:gho-in-url-9012@github.com/o/r.git@main",
    }
    settings = Settings.from_env(values)
    shown = repr(settings) + str(settings)
    for secret in ("whsec-value-1234", "ghp-token-value-5678", "gho-in-url-9012"):
        assert secret not in shown
        assert secret in settings.secrets()
    redactor = Redactor(settings.secrets())
    assert "gho-in-url-9012" not in redactor.text("cloning https://x-access-token:gho-in-url-9012@github.com/o/r")
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"SYNC_SOURCES": "https://u:leaked-token@host/x.git@-bad"})
    assert "leaked-token" not in str(info.value), "a refused value is shown with its password masked"


def test_every_new_setting_is_read_deployed_and_documented() -> None:
    assert set(NEW) <= Settings.variables()
    readme = (ROOT / "README.md").read_text()
    configuration = readme[readme.index("## Configuration") : readme.index("## Operate")]
    for name in NEW:
        assert re.search(rf"^\| `{name}` \|", configuration, re.M), f"{name} is not in the README's table"
    manifests = (ROOT / "knative" / "definitions.yaml").read_text() + (ROOT / "knative" / "settings.yaml").read_text()
    for name in NEW:
        assert name in manifests, name

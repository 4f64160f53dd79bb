from __future__ import annotations

from pathlib import Path

import pytest

from shared.agents import DirectorySource, S3Source, configured_source
from shared.errors import ConfigurationError
from shared.settings import AgentSourceSettings, R2Settings, Secret


def test_the_settings_pick_the_source(tmp_path: Path) -> None:
    assert isinstance(configured_source(AgentSourceSettings(agents_dir=tmp_path)), DirectorySource)
    r2 = R2Settings(
        endpoint="http://127.0.0.1:9",
        access_key_id=Secret("id"),
        secret_access_key=Secret("secret"),
        bucket="agents",
        prefix="defs/",
    )
    source = configured_source(AgentSourceSettings(r2=r2))
    assert isinstance(source, S3Source)
    assert source.locate("agents/a/config.yaml") == "s3://agents/defs/agents/a/config.yaml"
    with pytest.raises(ConfigurationError, match="AGENTS_DIR"):
        configured_source(AgentSourceSettings())

"""The source of agent definitions named by the settings: a directory or a bucket."""

from __future__ import annotations

from shared.errors import ConfigurationError
from shared.settings import AgentSourceSettings

from ._s3 import S3Source, s3_client
from ._sources import DirectorySource, Source


def configured_source(settings: AgentSourceSettings) -> Source:
    """``AGENTS_DIR`` as a ``DirectorySource``, or the ``R2_*`` bucket as an ``S3Source``.

    Raises:
        ConfigurationError: neither is set.
    """
    if settings.r2 is not None:
        r2 = settings.r2
        client = s3_client(
            endpoint_url=r2.endpoint,
            access_key_id=r2.access_key_id.reveal(),
            secret_access_key=r2.secret_access_key.reveal(),
        )
        return S3Source(bucket=r2.bucket, prefix=r2.prefix, client=client)
    if settings.agents_dir is not None:
        return DirectorySource(settings.agents_dir)
    raise ConfigurationError("agent definitions are not configured: set AGENTS_DIR or R2_ENDPOINT/R2_BUCKET/...")

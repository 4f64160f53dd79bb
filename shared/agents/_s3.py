"""Agent definitions in an S3-compatible bucket (Cloudflare R2 in production).

The bucket holds the checkout's layout under an optional prefix:
``<prefix>agents/<name>/config.yaml``, ``<prefix>agents/<name>/system-prompt.md``,
``<prefix>skills/<name>/SKILL.md``. boto3 is synchronous; the store calls this source
through ``asyncio.to_thread``. botocore's exceptions stop here:

* no such key: the file does not exist (``read_text`` returns None);
* no such bucket, access denied, bad credentials: ``ConfigurationError``;
* connection failures, timeouts, throttling, 5xx: ``TransientError`` (retry later).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from shared.errors import ConfigurationError, TransientError

from ._names import split_path
from ._sources import MAX_FILE_BYTES, FileTooLarge

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"})


def s3_client(
    *,
    endpoint_url: str,
    access_key_id: str,
    secret_access_key: str,
    region_name: str = "auto",
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 10.0,
    max_attempts: int = 3,
) -> S3Client:
    """A boto3 S3 client for an S3-compatible endpoint (the R2 settings: ``R2_ENDPOINT``...).

    Path-style addressing and checksums only when required: what R2 (and moto) support.
    The client is safe to share between threads.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # a session of its own: boto3's default session is shared, mutable and not thread-safe
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region_name,
        config=config,
    )


class S3Source:
    """Agent definitions under ``prefix`` in ``bucket`` (see the module docstring)."""

    def __init__(self, *, bucket: str, prefix: str = "", client: S3Client) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client = client

    def __repr__(self) -> str:
        return f"S3Source(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def agent_names(self) -> list[str]:
        """Sorted names ``n`` for which ``<prefix>agents/<n>/config.yaml`` exists (hidden names skipped)."""
        base = f"{self.prefix}agents/"
        names: set[str] = set()
        with s3_translated("list", f"s3://{self.bucket}/{base}"):
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
                for item in page.get("Contents", []):
                    name, _, rest = item.get("Key", "")[len(base) :].partition("/")
                    if rest == "config.yaml" and name and not name.startswith("."):
                        names.add(name)
        return sorted(names)

    def read_text(self, path: str) -> str | None:
        """The text of ``<prefix><path>``, or None when there is no such object.

        Raises:
            FileTooLarge: the object is larger than ``MAX_FILE_BYTES`` (it is not downloaded).
        """
        key = self._key(path)
        with s3_translated("get", self.locate(path)):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    return None
                raise
            body = response["Body"]
            try:
                size = response.get("ContentLength")
                if size is not None and size > MAX_FILE_BYTES:
                    raise FileTooLarge(self.locate(path), size)
                data = body.read(MAX_FILE_BYTES + 1)
            finally:
                body.close()
        if len(data) > MAX_FILE_BYTES:
            raise FileTooLarge(self.locate(path))
        return data.decode("utf-8")

    def locate(self, path: str) -> str:
        """``s3://<bucket>/<key>`` of a logical path."""
        return f"s3://{self.bucket}/{self._key(path)}"

    def _key(self, path: str) -> str:
        return self.prefix + "/".join(split_path(path))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def s3_translated(action: str, where: str) -> Iterator[None]:
    """Botocore's exceptions inside the block as ours (see the module docstring), raised ``from`` the original."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = f"agent definitions: {action} {where} failed: {code or status}"
        if status >= 500 or code in _TRANSIENT:
            raise TransientError(message) from exc
        raise ConfigurationError(message) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ConfigurationError(f"agent definitions: {action} {where}: no usable credentials") from exc
    except BotoCoreError as exc:
        raise TransientError(f"agent definitions: {action} {where} failed: {type(exc).__name__}") from exc

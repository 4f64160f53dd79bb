"""The bucket side of a sync: what is under ``agents/`` and ``skills/``, uploads, deletions.

Objects are compared by content: a single-part upload's ETag is the MD5 of its bytes on
S3, R2 and moto alike, so one listing tells what changed without reading any object. Each
upload also carries its SHA-256 as metadata (``x-amz-meta-sha256``), for people.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shared.agents import s3_translated
from shared.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TOPS = ("agents/", "skills/")
_CONTENT_TYPES = {".md": "text/markdown; charset=utf-8", ".yaml": "application/yaml", ".yml": "application/yaml"}
_DELETE_BATCH = 1000  # DeleteObjects' limit


def md5_hex(data: bytes) -> str:
    """The hex MD5 of ``data``: a single-part object's ETag."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Bucket:
    """``agents/`` and ``skills/`` under ``prefix`` in ``bucket`` (blocking calls)."""

    def __init__(self, *, client: S3Client, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def listing(self) -> dict[str, str]:
        """Logical path → ETag (quotes stripped) of every object under ``agents/`` and ``skills/``.

        Raises:
            TransientError, ConfigurationError: as ``shared.agents.s3_translated`` says.
        """
        found: dict[str, str] = {}
        for top in TOPS:
            base = self.prefix + top
            with s3_translated("list", f"s3://{self.bucket}/{base}"):
                for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
                    for item in page.get("Contents", []):
                        key = item.get("Key", "")
                        found[key[len(self.prefix) :]] = item.get("ETag", "").strip('"')
        return found

    def put(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``<prefix><path>``."""
        key = self.prefix + path
        suffix = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
        with s3_translated("put", f"s3://{self.bucket}/{key}"):
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=_CONTENT_TYPES.get(suffix, "application/octet-stream"),
                Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            )

    def delete(self, paths: Iterable[str]) -> None:
        """Delete ``<prefix><path>`` for each path (in batches; a missing one is no error)."""
        keys = [self.prefix + p for p in paths]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            with s3_translated("delete", f"s3://{self.bucket}/{self.prefix}"):
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise TransientError(f"agent definitions: delete {first.get('Key')} failed: {first.get('Code')}")

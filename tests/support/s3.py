"""An S3-compatible server for tests: moto in server mode, over HTTP on loopback, as an R2 client sees one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3

from ._paths import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@contextmanager
def moto_server() -> Iterator[str]:
    """A ``ThreadedMotoServer`` on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def admin_client(endpoint: str) -> S3Client:
    """A plain boto3 client on ``endpoint`` (any credentials do for moto), for a test's own reads and writes."""
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )

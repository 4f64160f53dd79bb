"""A ``github:owner/repo`` source through the contents API: a local fake GitHub over HTTP stands in."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from shared.agents import s3_client
from shared.definitions import Bucket, Sync
from shared.errors import ConfigurationError
from shared.settings import DefinitionsSettings, Secret, SyncSource, SyncSourceKind

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TOKEN = "ghp_fake_token_never_logged"


class FakeGitHub:
    """``/repos/<owner>/<repo>`` and its ``/contents/<path>`` from ``refs[ref]`` folders, behind a bearer token."""

    def __init__(self, repo: str, refs: dict[str, Path]) -> None:
        self.repo, self.refs = repo, refs
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, b'{"message": "Bad credentials"}')
                url = urlsplit(self.path)
                ref = parse_qs(url.query).get("ref", ["main"])[0]
                base = f"/repos/{fake.repo}"
                if url.path == base:
                    return self._send(200, b'{"default_branch": "main"}')
                if not url.path.startswith(base + "/contents/") or ref not in fake.refs:
                    return self._send(404, b'{"message": "Not Found"}')
                path = unquote(url.path[len(base + "/contents/") :])
                target = fake.refs[ref] / path
                if target.is_dir():
                    items = [
                        {"name": p.name, "path": f"{path}/{p.name}", "type": "dir" if p.is_dir() else "file"}
                        for p in sorted(target.iterdir())
                    ]
                    return self._send(200, json.dumps(items).encode())
                if target.is_file() and self.headers.get("Accept") == "application/vnd.github.raw+json":
                    return self._send(200, target.read_bytes(), "application/vnd.github.raw")
                return self._send(404, b'{"message": "Not Found"}')

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tagged(tmp_path: Path, definitions: Path) -> dict[str, Path]:
    """Two refs: ``main`` (the fixtures) and ``v0`` (only one agent, with a prompt of its own)."""
    main = tmp_path / "main"
    for top in ("agents", "skills"):
        shutil.copytree(definitions / top, main / top)
    old = tmp_path / "v0" / "agents" / "sprint-coder"
    shutil.copytree(definitions / "agents" / "sprint-coder", old)
    (old / "system-prompt.md").write_text("You are Sprint, as you were at v0.\n")
    shutil.copytree(definitions / "skills", tmp_path / "v0" / "skills")
    return {"main": main, "v0": tmp_path / "v0"}


@pytest.fixture
def fake_github(tagged: dict[str, Path]) -> Iterator[FakeGitHub]:
    with FakeGitHub("botburrow/agent-definitions", tagged) as fake:
        yield fake


def sync_of(fake: FakeGitHub, endpoint: str, bucket: str, *, ref: str | None, token: str = TOKEN) -> Sync:
    source = SyncSource(kind=SyncSourceKind.GITHUB, location="botburrow/agent-definitions", ref=ref)
    settings = DefinitionsSettings(sync_sources=(source,), github_api_url=fake.url, github_token=Secret(token))
    client = s3_client(endpoint_url=endpoint, access_key_id="testing", secret_access_key="testing")
    return Sync(settings=settings, bucket=Bucket(client=client, bucket=bucket))


def keys_in(admin: S3Client, bucket: str) -> set[str]:
    return {o["Key"] for o in admin.list_objects_v2(Bucket=bucket).get("Contents", [])}


async def test_a_github_source_is_read_through_the_contents_api(
    fake_github: FakeGitHub, moto_endpoint: str, bucket: str, admin: S3Client, tagged: dict[str, Path]
) -> None:
    report = await sync_of(fake_github, moto_endpoint, bucket, ref=None).run()
    expected = {p.relative_to(tagged["main"]).as_posix() for p in tagged["main"].rglob("*") if p.is_file()}
    assert report.ok and set(report.uploaded) == expected == keys_in(admin, bucket)
    assert all(r.startswith("/repos/botburrow/agent-definitions") for r in fake_github.requests)

    report = await sync_of(fake_github, moto_endpoint, bucket, ref="v0").run()
    assert report.uploaded == ("agents/sprint-coder/system-prompt.md",)
    assert {p.split("/")[1] for p in report.deleted} == {"claude-coder-1", "devops-agent", "test-persona-agent"}
    body = admin.get_object(Bucket=bucket, Key="agents/sprint-coder/system-prompt.md")["Body"].read()
    assert body == b"You are Sprint, as you were at v0.\n"
    assert any("ref=v0" in r for r in fake_github.requests)


async def test_a_refused_token_is_a_configuration_error_and_changes_nothing(
    fake_github: FakeGitHub, moto_endpoint: str, bucket: str, admin: S3Client
) -> None:
    with pytest.raises(ConfigurationError, match="401") as info:
        await sync_of(fake_github, moto_endpoint, bucket, ref=None, token="wrong").run()
    assert "wrong" not in str(info.value) and TOKEN not in str(info.value)
    assert keys_in(admin, bucket) == set()

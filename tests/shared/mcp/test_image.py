"""The offline MCP image: what it takes from the host, and that an unchanged host rebuilds nothing."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import docker
import pytest

from shared.mcp.image import DEFAULT_TAG, Tree, build, main, write_rootfs


def test_a_path_is_taken_with_every_symlink_along_it(tmp_path: Path) -> None:
    real = tmp_path / "usr" / "lib"
    real.mkdir(parents=True)
    (real / "libx.so.1.2").write_bytes(b"\x7fELF")
    (real / "libx.so.1").symlink_to("libx.so.1.2")
    (tmp_path / "lib").symlink_to("usr/lib")
    tree = Tree()
    tree.add(tmp_path / "lib" / "libx.so.1")
    assert set(tree.paths) == {str(tmp_path / "lib"), str(real / "libx.so.1"), str(real / "libx.so.1.2")}


def test_a_tree_keeps_its_links_and_what_they_name(tmp_path: Path) -> None:
    (tmp_path / "python3.11").write_text("#!")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(tmp_path / "python3.11")
    (tmp_path / "venv" / "__pycache__").mkdir()
    tree = Tree()
    tree.add_tree(tmp_path / "venv", skip={"__pycache__"})
    assert str(venv / "python") in tree.paths and str(tmp_path / "python3.11") in tree.paths
    assert not [p for p in tree.paths if "__pycache__" in p]


def test_the_servers_move_to_opt_wherever_they_were_installed(tmp_path: Path) -> None:
    servers = tmp_path / "checkout" / "mcp-servers"  # under /tmp, which a server's container mounts over
    (servers / "node_modules" / ".bin").mkdir(parents=True)
    (servers / "node_modules" / "index.js").write_text("1")
    (servers / "node_modules" / ".bin" / "run").symlink_to("../index.js")
    tree = Tree()
    tree.add_tree(servers)
    out = io.BytesIO()
    write_rootfs(tree, out, servers)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"opt/mcp-servers/node_modules/index.js", "opt/mcp-servers/node_modules/.bin/run"} <= set(members)
    assert members["opt/mcp-servers/node_modules/.bin/run"].linkname == "../index.js"
    assert not [n for n in members if "checkout" in n], "nothing stays at the host's path"
    workspace = members["workspace"]
    assert (workspace.uid, workspace.mode) == (10001, 0o700) and members["tmp"].mode == 0o1777


def test_a_directory_without_servers_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--servers", str(tmp_path), "--docker-host", "unix:///nonexistent.sock"]) == 1
    assert capsys.readouterr().err.strip() == f"MCP image: {tmp_path} holds no installed servers (run make mcp-servers)"


def test_the_image_make_built_is_current_and_is_kept(servers_dir: Path, mcp_docker_host: str) -> None:
    client = docker.DockerClient(base_url=mcp_docker_host)
    try:
        before = client.api.inspect_image(DEFAULT_TAG)["Id"]
        image_id, built = build(client, Path(os.path.abspath(servers_dir)))
    finally:
        client.close()
    assert (image_id, built) == (before, False)

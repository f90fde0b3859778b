"""The real docker CLI (on PATH) against dockyardd: `docker cp` both ways (files,
directories, to stdout), `docker diff`, `docker export`. Hermetic as
test_api_containers_support.container_daemon. Skipped without docker."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture(scope="module")
def cli(cli_bytes):
    """conftest's ``cli`` with bytes output: archives come through stdout."""
    return cli_bytes


def tar_names(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar}


def test_cp_file_into_stopped_container_and_back(cli, tmp_path):
    src = tmp_path / "greeting.txt"
    src.write_text("hello via docker cp\n")
    cid = cli("create", "busybox", "cat", "/tmp/greeting.txt").stdout.decode().strip()
    cli("cp", str(src), f"{cid}:/tmp/")
    assert cli("start", "-a", cid).stdout == b"hello via docker cp\n"
    # to a new name (the destination does not exist: the CLI puts into its parent)
    cli("cp", str(src), f"{cid}:/tmp/renamed.txt")
    out = tmp_path / "out"
    out.mkdir()
    cli("cp", f"{cid}:/tmp/renamed.txt", str(out))
    assert (out / "renamed.txt").read_text() == "hello via docker cp\n"


def test_cp_to_stdout(cli):
    cid = cli("create", "busybox", "true").stdout.decode().strip()
    members = tar_names(cli("cp", f"{cid}:/etc/passwd", "-").stdout)
    assert list(members) == ["passwd"] and members["passwd"].isreg()
    members = tar_names(cli("cp", f"{cid}:/bin/", "-").stdout)
    assert "bin/busybox" in members and members["bin"].isdir()


def test_cp_directory_round_trip_running(cli, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("bb")
    os.symlink("a.txt", tree / "link")
    cid = cli("run", "-d", "busybox", "sleep", "300").stdout.decode().strip()
    try:
        cli("cp", str(tree), f"{cid}:/srv")
        r = cli("exec", cid, "sh", "-c", "cat /srv/a.txt /srv/sub/b.txt; readlink /srv/link")
        assert r.stdout == b"abba.txt\n"
        back = tmp_path / "back"
        cli("cp", f"{cid}:/srv", str(back))
        assert (back / "sub" / "b.txt").read_text() == "bb"
        assert os.readlink(back / "link") == "a.txt"
        contents = tmp_path / "contents"
        contents.mkdir()
        cli("cp", f"{cid}:/srv/.", str(contents))
        assert sorted(os.listdir(contents)) == ["a.txt", "link", "sub"]
    finally:
        cli("rm", "-f", cid)


def test_cp_missing_path_fails(cli, tmp_path):
    cid = cli("create", "busybox", "true").stdout.decode().strip()
    r = cli("cp", f"{cid}:/no/such/file", str(tmp_path), check=False)
    assert r.returncode != 0
    assert b"Could not find the file /no/such/file in container" in r.stderr


def test_diff_and_export(cli):
    cid = cli("run", "-d", "busybox", "sh", "-c",
              "touch /new; rm /etc/group").stdout.decode().strip()
    cli("wait", cid)
    lines = cli("diff", cid).stdout.decode().splitlines()
    assert "A /new" in lines and "D /etc/group" in lines and "C /etc" in lines, lines
    exported = cli("export", cid).stdout
    names = tar_names(exported)
    assert "bin/busybox" in names and "new" in names and "etc/group" not in names
    r = subprocess.run(["tar", "t"], input=exported, capture_output=True, check=True)
    assert b"bin/busybox\n" in r.stdout

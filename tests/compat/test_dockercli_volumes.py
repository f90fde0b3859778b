"""The real docker CLI (on PATH) against dockyardd: volume create/ls/inspect/rm/prune,
run -v name:/path, -v /path (anonymous), --mount, --volumes-from, --tmpfs, rm -v,
cp into a volume, system df. Hermetic as test_api_containers_support.container_daemon.
Skipped without docker."""

from __future__ import annotations

import json
import os
import secrets

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture(scope="module")
def cli(cli):
    """conftest's ``cli``; at the end no volume may be left, in the API or on disk."""
    yield cli
    cli("volume", "prune", "-a", "-f")
    assert cli("volume", "ls", "-q").stdout == ""
    assert os.listdir(cli.daemon.d.dir / "data" / "volumes") == []


def name() -> str:
    return f"dyv-{secrets.token_hex(4)}"


def test_volume_lifecycle(cli):
    v = name()
    assert cli("volume", "create", "--label", "tier=db", v).stdout == f"{v}\n"
    info = json.loads(cli("volume", "inspect", v).stdout)
    assert info[0]["Name"] == v and info[0]["Labels"] == {"tier": "db"}
    assert info[0]["Driver"] == "local" and info[0]["Mountpoint"].endswith(f"/{v}/_data")
    assert cli("volume", "inspect", "-f", "{{.Scope}} {{.Driver}}", v).stdout == "local local\n"
    out = cli("volume", "ls").stdout.splitlines()
    assert out[0].split() == ["DRIVER", "VOLUME", "NAME"] and f"local     {v}" in out
    assert cli("volume", "ls", "-q", "--filter", "label=tier=db").stdout == f"{v}\n"
    assert cli("volume", "ls", "-q", "--filter", "label=tier=web").stdout == ""
    assert cli("volume", "rm", v).stdout == f"{v}\n"
    r = cli("volume", "inspect", v, check=False)
    assert r.returncode == 1 and f"get {v}: no such volume" in r.stderr


def test_bad_name(cli):
    r = cli("volume", "create", "a/b", check=False)
    assert r.returncode == 1
    assert "includes invalid characters for a local volume name" in r.stderr


def test_data_survives_containers(cli):
    v = name()
    cli("run", "--rm", "-v", f"{v}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert cli("run", "--rm", "-v", f"{v}:/data:ro", "busybox", "cat", "/data/f").stdout \
        == "kept\n"
    cid = cli("create", "-v", f"{v}:/data", "busybox", "true").stdout.strip()
    r = cli("volume", "rm", v, check=False)
    assert r.returncode == 1 and f"remove {v}: volume is in use - [{cid}]" in r.stderr
    cli("rm", cid)
    cli("volume", "rm", v)


def test_copy_up_and_mount_flag(cli):
    v = name()
    out = cli("run", "--rm", "--mount", f"type=volume,src={v},dst=/etc", "busybox",
              "sh", "-c", "head -c 5 /etc/passwd").stdout
    assert out == "root:"
    out = cli("run", "--rm", "--mount", f"type=volume,src={name()}x,dst=/etc,volume-nocopy",
              "busybox", "sh", "-c", "test -e /etc/passwd || echo empty").stdout
    assert out == "empty\n"
    cli("volume", "prune", "-a", "-f")


def test_anonymous_and_rm_v(cli):
    cid = cli("create", "-v", "/scratch", "busybox", "true").stdout.strip()
    anon = cli("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", cid).stdout.strip()
    assert len(anon) == 64
    assert cli("volume", "ls", "-q", "--filter", "dangling=false").stdout == f"{anon}\n"
    cli("rm", "-v", cid)
    assert cli("volume", "ls", "-q").stdout == ""
    cli("run", "--rm", "-v", "/scratch", "busybox", "true")
    assert cli("volume", "ls", "-q").stdout == ""  # --rm removes anonymous volumes


def test_volumes_from_and_tmpfs(cli):
    v = name()
    src = cli("create", "-v", f"{v}:/shared", "busybox", "true").stdout.strip()
    cli("run", "--rm", "--volumes-from", src, "busybox", "sh", "-c", "echo s > /shared/x")
    r = cli("run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "sh", "-c",
            "cat /shared/x; touch /shared/y", check=False)
    assert r.stdout == "s\n" and r.returncode != 0
    out = cli("run", "--rm", "--tmpfs", "/t:size=64k", "--read-only", "busybox", "sh", "-c",
              "grep ' /t ' /proc/mounts").stdout
    assert "tmpfs" in out and "size=64k" in out
    cli("rm", src)
    cli("volume", "rm", v)


def test_bind_mount_errors(cli, tmp_path):
    r = cli("run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/x", "busybox",
            "true", check=False)
    assert r.returncode == 125
    assert (f'invalid mount config for type "bind": bind source path does not exist: '
            f"{tmp_path}/nope") in r.stderr
    (tmp_path / "f").write_text("hostfile\n")
    assert cli("run", "--rm", "-v", f"{tmp_path}:/h:ro", "busybox", "cat",
               "/h/f").stdout == "hostfile\n"


def test_cp_into_volume_and_df(cli, tmp_path):
    v = name()
    cid = cli("create", "-v", f"{v}:/data", "busybox", "true").stdout.strip()
    (tmp_path / "in.txt").write_text("copied\n")
    cli("cp", str(tmp_path / "in.txt"), f"{cid}:/data/in.txt")
    cli("cp", f"{cid}:/data/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "copied\n"
    df = cli("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}").stdout
    assert "Local Volumes 1 1" in df
    cli("rm", cid)
    assert cli("volume", "prune", "-f").stdout.startswith("Total reclaimed space")
    out = cli("volume", "prune", "-a", "-f").stdout
    assert out.startswith(f"Deleted Volumes:\n{v}\n\nTotal reclaimed space: ")

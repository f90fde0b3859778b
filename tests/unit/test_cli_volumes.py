"""``volume ...`` commands and run/create's -v/--mount/--volumes-from/--tmpfs/--read-only
against a fake daemon: the requests docker's CLI makes, and its output."""

from __future__ import annotations

import json

import pytest
from test_client_fakedaemon import Reply, error
from test_client_fakedaemon import run_cli as run

from dockyard.cli.commands.run import parse_mount, split_volumes
from dockyard.cli.context import CLIError

pytestmark = pytest.mark.unit

CID = "c" * 64
VOL = {"CreatedAt": "2026-01-01T00:00:00Z", "Driver": "local", "Labels": {"a": "b"},
       "Mountpoint": "/var/lib/dockyard/volumes/v10/_data", "Name": "v10", "Options": None,
       "Scope": "local"}


def test_volume_create(daemon):
    daemon.route("POST", "/volumes/create", Reply(201, VOL))
    status, out, _ = run(daemon, "volume", "create", "--label", "a=b", "-o", "type=tmpfs",
                         "-o", "device=tmpfs", "v10")
    assert status == 0 and out == "v10\n"
    body = json.loads(daemon.last("POST", "/volumes/create").body)
    assert body == {"Name": "v10", "Driver": "local", "Labels": {"a": "b"},
                    "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}}


def test_volume_ls_sorted_naturally(daemon):
    vols = [dict(VOL, Name=n) for n in ("v10", "v9", "abc")]
    daemon.route("GET", "/volumes", Reply(200, {"Volumes": vols, "Warnings": []}))
    status, out, _ = run(daemon, "volume", "ls")
    assert status == 0
    assert out == ("DRIVER    VOLUME NAME\nlocal     abc\nlocal     v9\nlocal     v10\n")
    status, out, _ = run(daemon, "volume", "list", "-q", "-f", "dangling=true")
    assert out == "abc\nv9\nv10\n"
    assert json.loads(daemon.last("GET", "/volumes").query["filters"]) == {
        "dangling": {"true": True}}
    status, out, _ = run(daemon, "volume", "ls", "--format", "{{.Name}} {{.Labels}}")
    assert out.splitlines()[0] == "abc a=b"


def test_volume_inspect_and_rm(daemon):
    daemon.route("GET", "/volumes/v10", Reply(200, VOL))
    daemon.route("GET", "/volumes/nope", error(404, "get nope: no such volume"))
    status, out, err = run(daemon, "volume", "inspect", "v10", "nope")
    assert status == 1 and json.loads(out) == [VOL]
    assert err == "Error response from daemon: get nope: no such volume\n"
    daemon.route("DELETE", "/volumes/v10", Reply(204))
    daemon.route("DELETE", "/volumes/busy", error(
        409, "remove busy: volume is in use - [" + CID + "]"))
    status, out, err = run(daemon, "volume", "rm", "-f", "v10", "busy")
    assert status == 1 and out == "v10\n"
    assert err == f"Error response from daemon: remove busy: volume is in use - [{CID}]\n"
    assert daemon.last("DELETE", "/volumes/v10").query == {"force": "1"}


def test_volume_prune(daemon):
    daemon.route("POST", "/volumes/prune", Reply(200, {"VolumesDeleted": ["a", "b"],
                                                       "SpaceReclaimed": 2048}))
    status, out, _ = run(daemon, "volume", "prune", stdin="n\n")
    assert status == 0 and out.startswith("WARNING! This will remove anonymous local volumes")
    assert not [r for r in daemon.requests if r.path.startswith("/v")
                and "prune" in r.path]
    status, out, _ = run(daemon, "volume", "prune", "-a", "-f", "--filter", "label=x")
    assert out == "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 2.048kB\n"
    assert json.loads(daemon.last("POST", "/volumes/prune").query["filters"]) == {
        "label": {"x": True}, "all": {"true": True}}


def test_run_volume_flags(daemon):
    daemon.route("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": []}))
    status, _, err = run(daemon, "create", "-v", "data:/data:ro", "-v", "/anon",
                         "-v", "/host:/h", "--mount",
                         "type=volume,src=v,dst=/v,volume-nocopy,volume-opt=o=size=1m",
                         "--volumes-from", "other:ro", "--tmpfs", "/run:size=64k",
                         "--read-only", "busybox")
    assert status == 0, err
    body = json.loads(daemon.last("POST", "/containers/create").body)
    hc = body["HostConfig"]
    assert hc["Binds"] == ["data:/data:ro", "/host:/h"]
    assert body["Volumes"] == {"/anon": {}}
    assert hc["Mounts"] == [{"Type": "volume", "Source": "v", "Target": "/v",
                             "VolumeOptions": {"NoCopy": True, "DriverConfig": {
                                 "Options": {"o": "size=1m"}}}}]
    assert hc["VolumesFrom"] == ["other:ro"] and hc["Tmpfs"] == {"/run": "size=64k"}
    assert hc["ReadonlyRootfs"] is True


def test_parse_mount_errors():
    assert parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rslave") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True,
        "BindOptions": {"Propagation": "rslave"}}
    assert parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777")["TmpfsOptions"] == {
        "SizeBytes": 1 << 20, "Mode": 0o1777}
    for bad, text in (("type=bind,src=/a", "target is required"),
                      ("type=bind,src=/a,dst=/b,volume-nocopy", r"cannot mix 'volume-\*'"),
                      ("dst=/b,bogus=1", "unexpected key 'bogus'"),
                      ("dst=/b,src", "must be a key=value pair")):
        with pytest.raises(CLIError, match=text):
            parse_mount(bad)


def test_split_volumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    binds, anon = split_volumes(["./rel:/r", "/x", "n:/n:ro"])
    assert binds == [f"{tmp_path}/rel:/r", "n:/n:ro"] and anon == {"/x": {}}

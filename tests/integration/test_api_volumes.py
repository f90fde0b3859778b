"""Volumes through dockyardd's socket: the /volumes endpoints, named and anonymous volumes
in containers, copy-up, nocopy, VOLUME from an image, --volumes-from, in-use refusal,
rm -v, prune, a tmpfs-backed volume, docker cp into a volume, events, system df.

Hermetic: see test_api_containers_support.container_daemon; at the end no volume
directory and no mount is left under the daemon's roots."""

from __future__ import annotations

import io
import json
import os
import secrets
import tarfile
import time
from urllib.parse import quote

import pytest
from test_api_containers_support import container_daemon, usable

pytestmark = pytest.mark.root

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d
        # Every test removes what it made: no volume row, directory or mount is left.
        left = d.json("GET", "/v1.44/volumes", status=200)["Volumes"]
        for c in d.json("GET", "/v1.44/containers/json?all=1", status=200):
            d.request("DELETE", f"/v1.44/containers/{c['Id']}?force=1&v=1", timeout=60)
        for v in d.json("GET", "/v1.44/volumes", status=200)["Volumes"]:
            d.request("DELETE", f"/v1.44/volumes/{v['Name']}?force=1")
        root = d.d.dir / "data" / "volumes"
        dirs = [e for e in os.listdir(root)] if root.exists() else []
        assert not left, f"volumes left by the tests: {left}"
        assert not dirs, f"volume directories left: {dirs}"


def vname(prefix: str = "v") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def run(d, cmd: str, **config) -> tuple[str, int, str]:
    """Create + start + wait a busybox sh -c; returns (id, exit code, output)."""
    cid = d.create(["sh", "-c", cmd], **config)
    d.start(cid)
    code = d.wait(cid)["StatusCode"]
    r = d.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1")
    out, data = b"", r.body
    while len(data) >= 8:
        size = int.from_bytes(data[4:8], "big")
        out += data[8:8 + size]
        data = data[8 + size:]
    return cid, code, out.decode()


def rm(d, cid: str, v: bool = False) -> None:
    r = d.request("DELETE", f"/v1.44/containers/{cid}?force=1" + ("&v=1" if v else ""),
                  timeout=60)
    assert r.status == 204, (r.status, r.body)


def rmv(d, name: str) -> None:
    r = d.request("DELETE", f"/v1.44/volumes/{name}")
    assert r.status == 204, (r.status, r.body)


def test_create_inspect_list_remove(daemon):
    d = daemon
    name = vname()
    vol = d.json("POST", "/v1.44/volumes/create",
                 {"Name": name, "Labels": {"team": "a"}}, 201)
    assert vol["Name"] == name and vol["Driver"] == "local" and vol["Scope"] == "local"
    assert vol["Labels"] == {"team": "a"} and vol["Options"] is None
    assert vol["Mountpoint"] == str(d.d.dir / "data" / "volumes" / name / "_data")
    assert os.path.isdir(vol["Mountpoint"])
    assert vol["CreatedAt"].endswith("Z") and "T" in vol["CreatedAt"]
    assert d.json("GET", f"/v1.44/volumes/{name}", status=200) == vol
    # Creating it again returns it as it is.
    assert d.json("POST", "/v1.44/volumes/create", {"Name": name}, 201)["Labels"] == {
        "team": "a"}
    listed = d.json("GET", "/v1.44/volumes?filters=" + quote(json.dumps(
        {"label": {"team=a": True}})), status=200)
    assert [v["Name"] for v in listed["Volumes"]] == [name] and listed["Warnings"] == []
    none = d.json("GET", "/v1.44/volumes?filters=" + quote(json.dumps(
        {"name": ["no-such-thing"]})), status=200)
    assert none["Volumes"] == []
    rmv(d, name)
    assert not os.path.exists(os.path.dirname(vol["Mountpoint"]))
    r = d.request("GET", f"/v1.44/volumes/{name}")
    assert r.status == 404 and json.loads(r.body)["message"] == f"get {name}: no such volume"
    r = d.request("DELETE", f"/v1.44/volumes/{name}")
    assert r.status == 404
    assert d.request("DELETE", f"/v1.44/volumes/{name}?force=1").status == 204


@pytest.mark.parametrize("body,status,text", [
    ({"Name": "a/b"}, 400, "includes invalid characters for a local volume name"),
    ({"Name": "x"}, 400, "too short"),
    ({"Name": "okname", "DriverOpts": {"bogus": "1"}}, 400, 'invalid option: "bogus"'),
    ({"Name": "okname", "DriverOpts": {"type": "tmpfs"}}, 400, "missing required option"),
    ({"Name": "okname", "Driver": "nfsplugin"}, 404, "plugin"),
])
def test_bad_create(daemon, body, status, text):
    r = daemon.request("POST", "/v1.44/volumes/create", json.dumps(body).encode(),
                       {"Content-Type": "application/json"})
    assert r.status == status and text in json.loads(r.body)["message"], r.body
    assert daemon.json("GET", "/v1.44/volumes", status=200)["Volumes"] == []
    assert not any(e for e in os.listdir(daemon.d.dir / "data" / "volumes")
                   if not e.startswith(".")), "nothing half-created"


def test_volume_outlives_container(daemon):
    d = daemon
    name = vname()
    c1, code, _ = run(d, "echo hello > /data/f && chown 1000:1000 /data/f",
                      HostConfig={"Binds": [f"{name}:/data"]})
    assert code == 0
    info = d.inspect(c1)
    assert info["Mounts"] == [{
        "Type": "volume", "Name": name,
        "Source": str(d.d.dir / "data" / "volumes" / name / "_data"),
        "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True,
        "Propagation": ""}]
    rm(d, c1)
    c2, code, out = run(d, "cat /data/f && stat -c %u /data/f",
                        HostConfig={"Binds": [f"{name}:/data:ro"]})
    assert code == 0 and out == "hello\n1000\n"
    _, code, _ = run(d, "echo x > /data/g", HostConfig={"Binds": [f"{name}:/data:ro"]})
    assert code != 0  # read-only
    # In use by a stopped container: refused, with Docker's text.
    r = d.request("DELETE", f"/v1.44/volumes/{name}")
    assert r.status == 409
    assert json.loads(r.body)["message"].startswith(f"remove {name}: volume is in use - [")
    assert c2 in json.loads(r.body)["message"]
    r = d.request("DELETE", f"/v1.44/volumes/{name}?force=1")
    assert r.status == 409
    for c in d.json("GET", "/v1.44/containers/json?all=1", status=200):
        rm(d, c["Id"])
    rmv(d, name)


def test_copy_up_keeps_owner_and_mode(daemon):
    d = daemon
    name = vname()
    cid, code, out = run(d, "stat -c '%a %u %g' /etc/passwd && ls /etc | wc -l",
                         HostConfig={"Binds": [f"{name}:/etc"]})
    assert code == 0, out
    src = d.d.dir / "data" / "volumes" / name / "_data"
    st = os.stat(src / "passwd")
    assert out.split("\n")[0] == f"{st.st_mode & 0o777:o} {st.st_uid} {st.st_gid}"
    assert (src / "passwd").read_text().startswith("root:")
    rm(d, cid)
    # Not empty any more: a second mount does not copy again.
    (src / "passwd").write_text("changed\n")
    cid, code, out = run(d, "cat /etc/passwd", HostConfig={"Binds": [f"{name}:/etc"]})
    assert out == "changed\n"
    rm(d, cid)
    rmv(d, name)


def test_nocopy(daemon):
    d = daemon
    name = vname()
    cid, code, out = run(d, "ls -A /etc | wc -l",
                         HostConfig={"Binds": [f"{name}:/etc:nocopy"]})
    assert code == 0 and out.strip() != "0"  # hosts, resolv.conf... are mounted there
    assert not os.path.exists(d.d.dir / "data" / "volumes" / name / "_data" / "passwd")
    rm(d, cid)
    m = {"Type": "volume", "Source": name, "Target": "/etc",
         "VolumeOptions": {"NoCopy": True}}
    cid, code, _ = run(d, "test ! -e /etc/passwd", HostConfig={"Mounts": [m]})
    assert code == 0
    rm(d, cid)
    rmv(d, name)


def test_anonymous_volumes_and_rm_v(daemon):
    d = daemon
    cid, code, _ = run(d, "echo a > /anon/f", Volumes={"/anon": {}})
    assert code == 0
    mounts = d.inspect(cid)["Mounts"]
    assert len(mounts) == 1 and mounts[0]["Type"] == "volume" and len(mounts[0]["Name"]) == 64
    anon = mounts[0]["Name"]
    vol = d.json("GET", f"/v1.44/volumes/{anon}", status=200)
    assert vol["Labels"] == {"com.docker.volume.anonymous": ""}
    rm(d, cid, v=True)
    assert d.request("GET", f"/v1.44/volumes/{anon}").status == 404
    # Without v=1 it stays (and prune removes it).
    cid, _, _ = run(d, "true", Volumes={"/anon": {}})
    anon = d.inspect(cid)["Mounts"][0]["Name"]
    named = vname()
    c2, _, _ = run(d, "true", HostConfig={"Binds": [f"{named}:/n"]})
    rm(d, cid)
    rm(d, c2)
    report = d.json("POST", "/v1.44/volumes/prune", status=200)
    assert report["VolumesDeleted"] == [anon]
    assert d.json("GET", f"/v1.44/volumes/{named}", status=200)["Name"] == named
    flt = quote(json.dumps({"all": ["true"]}))
    report = d.json("POST", f"/v1.44/volumes/prune?filters={flt}", status=200)
    assert report["VolumesDeleted"] == [named]


def test_autoremove_removes_anonymous_volumes(daemon):
    d = daemon
    cid = d.create(["true"], Volumes={"/anon": {}}, HostConfig={"AutoRemove": True})
    anon = d.inspect(cid)["Mounts"][0]["Name"]
    d.start(cid)
    d.wait(cid, "removed")
    assert d.request("GET", f"/v1.44/volumes/{anon}").status == 404


def test_image_volume(daemon):
    d = daemon
    base = d.create(["true"])
    r = d.request("POST", f"/v1.44/commit?container={base}&repo=withvol-{secrets.token_hex(3)}"
                  "&changes=" + quote("VOLUME /var/spool"), b"{}",
                  {"Content-Type": "application/json"})
    assert r.status == 201, r.body
    image = json.loads(r.body)["Id"]
    cid = d.create(["sh", "-c", "ls -ld /var/spool"], Image=image)
    mounts = d.inspect(cid)["Mounts"]
    assert [m["Destination"] for m in mounts] == ["/var/spool"]
    rm(d, cid, v=True)
    rm(d, base)
    assert d.request("DELETE", f"/v1.44/images/{image}").status == 200


def test_volumes_from(daemon):
    d = daemon
    name = vname()
    src, _, _ = run(d, "echo shared > /s/f", HostConfig={"Binds": [f"{name}:/s"]})
    cid, code, out = run(d, "cat /s/f; echo x > /s/g",
                         HostConfig={"VolumesFrom": [f"{src}:ro"]})
    assert out.startswith("shared\n") and code != 0
    info = d.inspect(cid)["Mounts"]
    assert info[0]["Name"] == name and info[0]["RW"] is False
    rm(d, cid)
    r = d.request("POST", "/v1.44/containers/create", json.dumps(
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"VolumesFrom": ["nosuch"]}}
    ).encode(), {"Content-Type": "application/json"})
    assert r.status == 404
    rm(d, src)
    rmv(d, name)


def test_bind_mount_errors_and_propagation(daemon, tmp_path):
    d = daemon
    missing = str(tmp_path / "missing")
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Mounts": [
        {"Type": "bind", "Source": missing, "Target": "/x"}]}}
    r = d.request("POST", "/v1.44/containers/create", json.dumps(body).encode(),
                  {"Content-Type": "application/json"})
    assert r.status == 400
    assert json.loads(r.body)["message"] == (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}')
    (tmp_path / "f").write_text("bound\n")
    cid, code, out = run(d, "cat /x/f; true", HostConfig={"Mounts": [
        {"Type": "bind", "Source": str(tmp_path), "Target": "/x", "ReadOnly": True,
         "BindOptions": {"Propagation": "rslave"}}]})
    assert code == 0 and out == "bound\n"
    m = d.inspect(cid)["Mounts"][0]
    assert m["Propagation"] == "rslave" and m["RW"] is False and m["Type"] == "bind"
    rm(d, cid)


def test_tmpfs_backed_volume(daemon):
    d = daemon
    name = vname()
    vol = d.json("POST", "/v1.44/volumes/create", {
        "Name": name, "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}, 201)
    assert vol["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    cid = d.create(["sh", "-c", "df -k /v | tail -1; sleep 30"],
                   HostConfig={"Binds": [f"{name}:/v"]})
    d.start(cid)

    def mounted() -> bool:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == vol["Mountpoint"] for line in f)

    assert mounted()
    r = d.request("POST", f"/v1.44/containers/{cid}/stop?t=0", timeout=60)
    assert r.status == 204
    assert not mounted()
    rm(d, cid)
    rmv(d, name)


def test_tmpfs_mounts(daemon):
    d = daemon
    cid, code, out = run(d, "grep ' /t ' /proc/mounts", HostConfig={
        "Mounts": [{"Type": "tmpfs", "Target": "/t",
                    "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o700}}]})
    assert code == 0 and "size=1024k" in out and "mode=700" in out
    rm(d, cid)


def test_cp_into_and_out_of_volume(daemon):
    d = daemon
    name = vname()
    cid = d.create(["true"], HostConfig={"Binds": [f"{name}:/data"]})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    r = d.request("PUT", f"/v1.44/containers/{cid}/archive?path=/data", buf.getvalue(),
                  {"Content-Type": "application/x-tar"})
    assert r.status == 200, r.body
    src = d.d.dir / "data" / "volumes" / name / "_data"
    assert (src / "hello.txt").read_bytes() == b"hi\n"
    r = d.request("GET", f"/v1.44/containers/{cid}/archive?path=/data/hello.txt")
    assert r.status == 200, r.body
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        member = tar.next()
        assert member is not None and member.name == "hello.txt"
        assert tar.extractfile(member).read() == b"hi\n"  # type: ignore[union-attr]
    r = d.request("GET", f"/v1.44/containers/{cid}/archive?path=/data")
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        assert sorted(tar.getnames()) == ["data", "data/hello.txt"]
    r = d.request("HEAD", f"/v1.44/containers/{cid}/archive?path=/data/hello.txt")
    assert r.status == 200
    # A symlink in the volume cannot lead out of it.
    os.symlink("/", src / "escape")
    r = d.request("GET", f"/v1.44/containers/{cid}/archive?path=/data/escape/etc/shadow")
    assert r.status == 404
    rm(d, cid)
    rmv(d, name)


def test_events_and_df(daemon):
    d = daemon
    name = vname()
    cid, _, _ = run(d, "head -c 5000 /dev/zero > /v/f", HostConfig={"Binds": [f"{name}:/v"]})
    df = d.json("GET", "/v1.44/system/df", status=200)
    vol = next(v for v in df["Volumes"] if v["Name"] == name)
    assert vol["UsageData"] == {"Size": 5000, "RefCount": 1}
    rm(d, cid)
    rmv(d, name)
    until = int(time.time()) + 1
    r = d.request("GET", f"/v1.44/events?since=0&until={until}&filters=" + quote(
        json.dumps({"type": ["volume"]})))
    actions = [(e["Action"], e["Actor"]["ID"]) for e in map(json.loads, r.body.splitlines())
               if e["Actor"]["ID"] == name]
    assert actions == [("create", name), ("mount", name), ("unmount", name),
                       ("destroy", name)], actions


def test_daemon_restart_keeps_volume_users(daemon):
    d = daemon
    name = vname()
    vol = d.json("POST", "/v1.44/volumes/create", {
        "Name": name, "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}, 201)
    cid = d.create(["sleep", "60"], HostConfig={"Binds": [f"{name}:/v"]})
    d.start(cid)
    flt = quote(json.dumps({"volume": [name]}))
    assert [c["Id"] for c in d.json("GET", f"/v1.44/containers/json?filters={flt}",
                                    status=200)] == [cid]

    def mounted() -> bool:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == vol["Mountpoint"] for line in f)

    d.restart()
    assert mounted()
    r = d.request("DELETE", f"/v1.44/volumes/{name}")
    assert r.status == 409  # still in use by the re-adopted container
    assert d.request("POST", f"/v1.44/containers/{cid}/stop?t=0", timeout=60).status == 204
    assert not mounted()
    rm(d, cid)
    rmv(d, name)

"""Container file endpoints of dockyardd over its unix socket: archive (HEAD stat, GET,
PUT) into stopped and running containers, the CVE-2018-15664 race (a container flipping
a path between a directory and a symlink to / while we copy), changes, export.

Hermetic: see test_api_containers_support.container_daemon."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import tarfile
import time
from urllib.parse import quote

import pytest
from test_api_containers_support import container_daemon, demux, usable

pytestmark = pytest.mark.root

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d


def make_tar(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o640, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_tar(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isreg() else None
            out[m.name] = (m, f.read() if f is not None else None)
    return out


def put(daemon, cid: str, path: str, body: bytes, query: str = ""):
    return daemon.request("PUT", f"/v1.44/containers/{cid}/archive?path={quote(path)}{query}",
                          body, {"Content-Type": "application/x-tar"})


def get(daemon, cid: str, path: str, method: str = "GET"):
    return daemon.request(method, f"/v1.44/containers/{cid}/archive?path={quote(path)}")


def path_stat(reply) -> dict:
    return json.loads(base64.b64decode(reply.headers["X-Docker-Container-Path-Stat"]))


def test_put_get_stat_stopped_container(daemon):
    cid = daemon.create(["cat", "/tmp/hello.txt"])
    r = put(daemon, cid, "/tmp", make_tar({"hello.txt": b"hello from the host\n"}))
    assert r.status == 200, (r.status, r.body)
    r = get(daemon, cid, "/tmp/hello.txt", "HEAD")
    assert r.status == 200
    st = path_stat(r)
    assert st["name"] == "hello.txt" and st["size"] == 20
    assert st["mode"] == 0o640 and st["linkTarget"] == ""
    assert st["mtime"].startswith("2023-11-14T22:13:20")
    r = get(daemon, cid, "/tmp/hello.txt")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
    assert path_stat(r)["name"] == "hello.txt"
    assert read_tar(r.body)["hello.txt"][1] == b"hello from the host\n"
    # A directory: named by its base name; "dir/." gives its contents.
    r = get(daemon, cid, "/tmp")
    names = set(read_tar(r.body))
    assert {"tmp", "tmp/hello.txt"} <= names, names
    assert path_stat(r)["mode"] & (1 << 31)
    names = set(read_tar(get(daemon, cid, "/tmp/.").body))
    assert "./hello.txt" in names, names
    r = put(daemon, cid, "/tmp", make_tar({"d/e/f": b"deep"}, dirs=("d", "d/e")))
    assert r.status == 200, (r.status, r.body)
    tree = read_tar(get(daemon, cid, "/tmp/d").body)
    assert sorted(tree) == ["d", "d/e", "d/e/f"] and tree["d/e/f"][1] == b"deep"
    # The file is in the container's filesystem when it runs.
    daemon.start(cid)
    assert daemon.wait(cid)["StatusCode"] == 0
    r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1")
    assert demux(r.body)[1] == b"hello from the host\n"
    # and after it stopped: no rootfs mount is held.
    assert get(daemon, cid, "/tmp/hello.txt", "HEAD").status == 200


def test_errors(daemon):
    cid = daemon.create(["true"])
    r = get(daemon, cid, "/nonexistent/file")
    assert r.status == 404
    assert r.json()["message"] == f"Could not find the file /nonexistent/file in container {cid}"
    assert get(daemon, cid, "/nope", "HEAD").status == 404
    r = daemon.request("GET", f"/v1.44/containers/{cid}/archive")
    assert r.status == 400
    r = put(daemon, cid, "/bin/busybox", make_tar({"x": b"x"}))
    assert r.status == 400 and "not a directory" in r.json()["message"]
    r = put(daemon, cid, "/nonexistent", make_tar({"x": b"x"}))
    assert r.status == 404
    r = get(daemon, cid, "/bin/busybox/x")
    assert r.status == 409, (r.status, r.body)
    r = put(daemon, cid, "/", b"this is not a tar archive" * 40)
    assert r.status == 400, (r.status, r.body)
    r = put(daemon, cid, "/", make_tar({"../../escape": b"x"}))
    assert r.status == 400, (r.status, r.body)
    r = put(daemon, cid, "/", make_tar({"bin": b"x"}), "&noOverwriteDirNonDir=1")
    assert r.status == 400 and "cannot overwrite directory" in r.json()["message"]
    r = put(daemon, cid, "/", make_tar({}, dirs=("bin/busybox",)), "&noOverwriteDirNonDir=1")
    assert r.status == 400 and "cannot overwrite non-directory" in r.json()["message"]
    assert get(daemon, cid, "/bin/busybox", "HEAD").status == 200
    assert daemon.request("GET", "/v1.44/containers/nosuch/archive?path=/").status == 404


def test_copy_uid_gid_uses_the_container_user(daemon):
    cid = daemon.create(["true"], User="1234:2345")
    assert put(daemon, cid, "/tmp", make_tar({"owned": b"x"}), "&copyUIDGID=1").status == 200
    assert put(daemon, cid, "/tmp", make_tar({"kept": b"x"})).status == 200
    tree = read_tar(get(daemon, cid, "/tmp/.").body)
    assert (tree["./owned"][0].uid, tree["./owned"][0].gid) == (1234, 2345)
    assert (tree["./kept"][0].uid, tree["./kept"][0].gid) == (0, 0)


def test_paths_under_the_containers_tmpfs_are_refused(daemon):
    # Volumes and bind mounts are followed (test_api_volumes.py); a tmpfs lives only in
    # the container's mount namespace.
    cid = daemon.create(["true"], HostConfig={"Tmpfs": {"/scratch": ""}})
    for path in ("/scratch", "/scratch/", "/scratch/x", "//scratch/./y"):
        r = put(daemon, cid, path, make_tar({"f": b"x"}))
        assert r.status == 501 and "not supported" in r.json()["message"], (path, r.body)
    assert get(daemon, cid, "/scratch/x").status == 501
    assert get(daemon, cid, "/scratchpad", "HEAD").status == 404
    assert get(daemon, cid, "/", "HEAD").status == 200


def test_symlinks_resolve_inside_the_root(daemon):
    cid = daemon.create(["true"])
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w") as tar:
        info = tarfile.TarInfo("etc-link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(info)
        info = tarfile.TarInfo("up")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../../.."
        tar.addfile(info)
    assert put(daemon, cid, "/", link.getvalue()).status == 200
    st = path_stat(get(daemon, cid, "/etc-link", "HEAD"))
    assert st["mode"] & (1 << 27) and st["linkTarget"] == "/etc"
    # Without a trailing slash the link itself; with one, the directory it names.
    assert read_tar(get(daemon, cid, "/etc-link").body)["etc-link"][0].issym()
    names = set(read_tar(get(daemon, cid, "/etc-link/").body))
    assert "etc-link/passwd" in names, names
    # "../../.." from the root stays at the root: the host's files are not reached.
    host_only = f"/tmp/dyc-host-only-{secrets.token_hex(4)}"
    with open(host_only, "w") as f:
        f.write("host secret")
    try:
        assert get(daemon, cid, f"/up{host_only}").status == 404
        assert get(daemon, cid, f"/up/../..{host_only}").status == 404
    finally:
        os.unlink(host_only)
    st = path_stat(get(daemon, cid, "/up/bin/busybox", "HEAD"))
    assert st["name"] == "busybox"


def test_put_into_running_container(daemon):
    cid = daemon.create(["sh", "-c", "while [ ! -f /tmp/ping ]; do sleep 0.05; done; "
                         "cat /tmp/ping"])
    daemon.start(cid)
    r = put(daemon, cid, "/tmp", make_tar({"ping": b"pong\n"}))
    assert r.status == 200, (r.status, r.body)
    assert daemon.wait(cid, timeout=30)["StatusCode"] == 0
    r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1")
    assert demux(r.body)[1] == b"pong\n"


def test_race_symlink_flip_cve_2018_15664(daemon):
    token = secrets.token_hex(4)
    name = f"pwn-{token}"
    cid = daemon.create(["sh", "-c", "while :; do mkdir -p /x; rm -rf /x; ln -s / /x; "
                         "rm -f /x; done"])
    daemon.start(cid)
    host_marker = os.path.join(str(daemon.d.dir), f"marker-{token}")
    with open(host_marker, "w") as f:
        f.write("host")
    watched = ["/" + name, "/tmp/" + name, os.path.join(str(daemon.d.dir), name)]
    try:
        seen = {"symlink": 0, "dir": 0}
        for i in range(50):
            body = make_tar({name: b"x"})
            for path in ("/x", "/x/tmp", "/x" + str(daemon.d.dir)):
                r = put(daemon, cid, path, body)
                assert r.status in (200, 400, 404, 409), (r.status, r.body)
            r = put(daemon, cid, "/", make_tar({f"x/{name}": b"x"}))
            assert r.status in (200, 400, 404, 409), (r.status, r.body)
            r = get(daemon, cid, "/x" + host_marker)
            assert r.status in (404, 409), (r.status, r.body[:200])
            r = get(daemon, cid, "/x" + str(daemon.d.dir) + "/")
            assert r.status in (404, 409), (r.status, r.body[:200])
            r = get(daemon, cid, "/x", "HEAD")
            if r.status == 200:
                mode = path_stat(r)["mode"]
                seen["symlink" if mode & (1 << 27) else "dir"] += 1
            r = get(daemon, cid, f"/x/{name}")
            assert r.status in (200, 404, 409), r.status
            for path in watched:
                assert not os.path.lexists(path), f"written on the host: {path} ({i})"
        assert seen["symlink"] + seen["dir"] > 0
    finally:
        os.unlink(host_marker)
        daemon.request("POST", f"/v1.44/containers/{cid}/kill")
        daemon.wait(cid)
        for path in watched:
            if os.path.lexists(path):
                os.unlink(path)


def test_changes_and_export(daemon):
    cid = daemon.create(["sh", "-c", "touch /new; rm /etc/group; mkdir -p /usr/local/x"])
    assert get(daemon, cid, "/etc/group", "HEAD").status == 200
    daemon.start(cid)
    assert daemon.wait(cid)["StatusCode"] == 0
    r = daemon.request("GET", f"/v1.44/containers/{cid}/changes")
    assert r.status == 200
    changes = {c["Path"]: c["Kind"] for c in r.json()}
    assert changes.get("/new") == 1, changes
    assert changes.get("/etc/group") == 2, changes
    assert changes.get("/etc") == 0, changes
    assert changes.get("/usr/local/x") == 1, changes
    for hidden in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/dev"):
        assert hidden not in changes, changes
    assert list(changes) == sorted(changes)
    r = daemon.request("GET", f"/v1.44/containers/{cid}/export")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
    names = set(read_tar(r.body))
    assert "bin/busybox" in names and "new" in names and "etc/group" not in names


def test_export_running_and_changes_of_fresh_container(daemon):
    cid = daemon.create(["sleep", "300"])
    r = daemon.request("GET", f"/v1.44/containers/{cid}/changes")
    assert r.status == 200 and r.json() is None
    daemon.start(cid)
    try:
        r = daemon.request("GET", f"/v1.44/containers/{cid}/export")
        assert r.status == 200 and "bin/busybox" in read_tar(r.body)
    finally:
        daemon.request("POST", f"/v1.44/containers/{cid}/kill")
        daemon.wait(cid)
    t0 = time.monotonic()
    assert get(daemon, cid, "/bin/busybox", "HEAD").status == 200
    assert time.monotonic() - t0 < 10


# --- the pieces, without a daemon ----------------------------------------------------------


def test_parse_path_and_go_modes():
    from dockyard.engine.archive import go_file_mode, go_time, parse_path

    p = parse_path("etc/passwd")
    assert (p.path, p.parent, p.base, p.name) == ("/etc/passwd", "etc", "passwd", "passwd")
    p = parse_path("/bin/")
    assert (p.parent, p.base, p.name) == ("bin", "", "bin")
    p = parse_path("/srv/.")
    assert (p.parent, p.base, p.name) == ("srv", ".", ".")
    p = parse_path("/")
    assert (p.parent, p.base, p.name) == ("", "", "/")
    p = parse_path("/a/../../b")
    assert (p.parent, p.base) == ("", "b")
    assert go_file_mode(0o40755) == (1 << 31) | 0o755
    assert go_file_mode(0o120777) == (1 << 27) | 0o777
    assert go_file_mode(0o104755) == (1 << 23) | 0o755
    assert go_file_mode(0o20666) == (1 << 26) | (1 << 21) | 0o666
    assert go_time(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_changes_copy_and_overlay_layouts(tmp_path):
    from dockyard.engine.archive import _copy_changes, _overlay_changes

    lower = tmp_path / "lower"
    for d in ("etc", "bin", "dev", "usr/lib"):
        (lower / d).mkdir(parents=True)
    (lower / "etc" / "group").write_text("root:x:0:\n")
    (lower / "etc" / "hosts").write_text("")
    (lower / "bin" / "tool").write_text("v1")
    os.utime(lower / "bin" / "tool", (1, 1))
    # the copy snapshotter: a whole tree
    upper = tmp_path / "copy"
    import shutil

    shutil.copytree(lower, upper, symlinks=True)
    (upper / "etc" / "group").unlink()
    (upper / "bin" / "tool").write_text("v2")
    (upper / "new").write_text("")
    (upper / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (upper / "dev" / "null").write_text("")
    assert _copy_changes(str(upper), [str(lower)]) == {
        "/etc": 0, "/etc/group": 2, "/bin": 0, "/bin/tool": 0, "/new": 1}
    # overlayfs: an upper dir with a 0/0 character device for the deletion
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "bin").mkdir()
    (upper / "usr" / "lib" / "x").mkdir(parents=True)
    os.mknod(upper / "etc" / "group", 0o20000 | 0o600, 0)
    (upper / "etc" / "hosts").write_text("")
    (upper / "bin" / "tool").write_text("v2")
    (upper / "new").write_text("")
    assert _overlay_changes(str(upper), [str(lower)]) == {
        "/etc": 0, "/etc/group": 2, "/bin": 0, "/bin/tool": 0, "/new": 1, "/usr": 0,
        "/usr/lib": 0, "/usr/lib/x": 1}

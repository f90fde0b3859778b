"""dockyardd as a process: flags, start-up, lock, shutdown; the system endpoints, version
routing, headers and errors, over raw HTTP on its unix socket."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from test_api_support import DOCKYARDD, UnixHTTPConnection, running_daemon, stop_daemon

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def daemon():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with running_daemon("--insecure-registry", "10.9.0.0/16", "--insecure-registry",
                        "reg.example:5000", "--registry-mirror", "http://127.0.0.1:1",
                        "--add-runtime", "runc=/usr/sbin/runc", "--default-ulimit",
                        "nofile=1024:2048", "--log-opt", "max-size=10m") as d:
        yield d


DOCKER_HEADERS = {"Api-Version": "1.44", "Docker-Experimental": "false", "Ostype": "linux"}


def check_headers(reply) -> None:
    for key, value in DOCKER_HEADERS.items():
        assert reply.headers[key] == value, key
    assert reply.headers["Server"].startswith("Docker/")
    assert reply.headers["Server"].endswith("(linux)")


def test_ping_get_and_head(daemon):
    r = daemon.request("GET", "/_ping")
    assert r.status == 200 and r.body == b"OK"
    check_headers(r)
    assert r.headers["Builder-Version"] == "1"
    assert r.headers["Swarm"] == "inactive"
    assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert r.headers["Pragma"] == "no-cache"
    h = daemon.request("HEAD", "/v1.44/_ping")
    assert h.status == 200 and h.body == b""
    assert h.headers["Content-Length"] == "0"
    assert h.headers["Content-Type"] == "text/plain; charset=utf-8"
    check_headers(h)


def test_keepalive_after_head(daemon):
    conn = UnixHTTPConnection(str(daemon.socket))
    try:
        for method in ("HEAD", "GET", "HEAD", "GET"):
            conn.request(method, "/_ping")
            resp = conn.getresponse()
            assert resp.read() == (b"OK" if method == "GET" else b"")
    finally:
        conn.close()


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.41", "/v1.44"])
def test_versions_accepted(daemon, prefix):
    r = daemon.request("GET", prefix + "/version")
    assert r.status == 200, r.body
    check_headers(r)


def test_version_too_new_and_too_old(daemon):
    r = daemon.request("GET", "/v1.99/version")
    assert r.status == 400
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"message": "client version 1.99 is too new. Maximum supported API "
                                   "version is 1.44"}
    check_headers(r)
    r = daemon.request("GET", "/v1.12/info")
    assert r.status == 400
    assert r.json()["message"].startswith("client version 1.12 is too old. Minimum supported "
                                          "API version is 1.24")


def test_unknown_route_and_method(daemon):
    for method, path in (("GET", "/nothing"), ("GET", "/v1.44/nothing"), ("PUT", "/_ping"),
                         ("DELETE", "/version")):
        r = daemon.request(method, path)
        assert r.status == 404, (method, path)
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"message": "page not found"}


def test_version(daemon):
    v = daemon.request("GET", "/version").json()
    assert v["ApiVersion"] == "1.44" and v["MinAPIVersion"] == "1.24"
    assert v["Os"] == "linux" and v["Arch"]
    engine = v["Components"][0]
    assert engine["Name"] == "Engine" and engine["Details"]["ApiVersion"] == "1.44"
    for key in ("Version", "GitCommit", "GoVersion", "KernelVersion", "BuildTime", "Platform"):
        assert key in v


def test_info(daemon):
    info = daemon.request("GET", "/v1.44/info").json()
    for key in ("ID", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped",
                "Images", "Driver", "DriverStatus", "Plugins", "MemoryLimit", "SwapLimit",
                "CpuCfsPeriod", "CpuCfsQuota", "KernelVersion", "OperatingSystem", "OSType",
                "Architecture", "NCPU", "MemTotal", "DockerRootDir", "Name", "Labels",
                "ExperimentalBuild", "ServerVersion", "Runtimes", "DefaultRuntime", "Swarm",
                "LiveRestoreEnabled", "Isolation", "InitBinary", "ContainerdCommit",
                "RuncCommit", "InitCommit", "SecurityOptions", "CgroupDriver", "CgroupVersion",
                "IndexServerAddress", "RegistryConfig", "Warnings"):
        assert key in info, key
    assert info["OSType"] == "linux" and info["ExperimentalBuild"] is False
    assert info["CgroupDriver"] == "cgroupfs" and info["CgroupVersion"] in ("1", "2")
    assert info["Driver"] in ("overlay2", "vfs")
    assert info["DockerRootDir"] == str(daemon.data_root)
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["DefaultRuntime"] == "dockyard-runtime"
    assert info["Runtimes"]["runc"] == {"path": "/usr/sbin/runc"}
    assert info["LiveRestoreEnabled"] is True
    reg = info["RegistryConfig"]
    assert "10.9.0.0/16" in reg["InsecureRegistryCIDRs"]
    assert reg["IndexConfigs"]["reg.example:5000"]["Secure"] is False
    assert reg["Mirrors"] == ["http://127.0.0.1:1"]
    assert any(o.startswith("name=seccomp") for o in info["SecurityOptions"])
    # the engine ID is stable across requests (kept in the data root)
    assert daemon.request("GET", "/info").json()["ID"] == info["ID"]


def test_socket_mode_and_pidfile(daemon):
    mode = stat.S_IMODE(daemon.socket.stat().st_mode)
    assert mode == 0o660
    pid = int((daemon.exec_root / "dockyardd.pid").read_text())
    assert pid == daemon.process.pid


def test_auth_failure_against_nothing(daemon):
    body = json.dumps({"username": "u", "password": "p",
                       "serveraddress": "127.0.0.1:1"}).encode()
    r = daemon.request("POST", "/v1.44/auth", body, {"Content-Type": "application/json"})
    assert r.status in (401, 500)
    assert "127.0.0.1:1" in r.json()["message"]
    r = daemon.request("POST", "/v1.44/auth", b"not json", {"Content-Type": "application/json"})
    assert r.status == 400


def test_bad_filters_are_400(daemon):
    r = daemon.request("GET", "/images/json?filters=notjson")
    assert r.status == 400
    r = daemon.request("GET", "/images/json?filters=" + '{"bogus":["x"]}')
    assert r.status == 400 and "bogus" in r.json()["message"]


def test_events_since_until_and_filters(daemon):
    # Tagging an unknown image fails; events come from image operations the daemon does.
    t0 = time.time()
    # import a tiny image to produce events
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        data = b"hi\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=evtest&tag=v1", buf.getvalue(),
                       {"Content-Type": "application/x-tar"}, chunked=True)
    assert r.status == 200, r.body
    image_id = r.stream()[-1]["status"]
    assert daemon.request("POST", f"/images/{image_id}/tag?repo=evtest&tag=v2").status == 201
    t1 = time.time() + 0.01
    r = daemon.request("GET", f"/events?since={t0:.6f}&until={t1:.6f}")
    assert r.status == 200
    events = r.stream()
    actions = [(e["Type"], e["Action"]) for e in events]
    assert ("image", "import") in actions and ("image", "tag") in actions
    tag_event = next(e for e in events if e["Action"] == "tag")
    assert tag_event["Actor"]["Attributes"]["name"] == "evtest:v2"
    assert tag_event["status"] == "tag" and isinstance(tag_event["timeNano"], int)
    filt = json.dumps({"event": {"tag": True}})
    r = daemon.request("GET", f"/events?since={t0:.6f}&until={t1:.6f}&filters={quote(filt)}")
    assert [e["Action"] for e in r.stream()] == ["tag"]
    filt = json.dumps({"type": ["container"]})
    r = daemon.request("GET", f"/events?since={t0:.6f}&until={t1:.6f}&filters={quote(filt)}")
    assert r.stream() == []
    r = daemon.request("GET", f"/events?since={t1:.6f}&until={t0:.6f}")
    assert r.status == 400
    daemon.request("DELETE", "/images/evtest:v1?force=1")
    daemon.request("DELETE", "/images/evtest:v2?force=1")


def test_events_stream_live(daemon):
    """Headers come before any event; a live event arrives while the stream is open."""
    conn = UnixHTTPConnection(str(daemon.socket), timeout=20)
    try:
        until = time.time() + 3
        conn.request("GET", f"/events?until={until:.3f}")
        resp = conn.getresponse()  # returns once headers are flushed
        assert resp.status == 200
        assert resp.headers["Transfer-Encoding"] == "chunked"

        def tag_later():
            time.sleep(0.3)
            daemon.request("POST", "/images/create?fromSrc=-&repo=live&tag=x", _tiny_tar())

        th = threading.Thread(target=tag_later)
        th.start()
        line = resp.readline()
        th.join()
        event = json.loads(line)
        assert event["Type"] == "image" and event["Action"] == "import"
        resp.read()  # ends at `until`
    finally:
        conn.close()
        daemon.request("DELETE", "/images/live:x?force=1")


def _tiny_tar() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("f")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def test_registry_auth_header_garbage_is_ignored(daemon):
    auth = base64.urlsafe_b64encode(b"not json").decode()
    r = daemon.request("POST", "/images/create?fromImage=127.0.0.1:1/nothing&tag=x",
                       headers={"X-Registry-Auth": auth})
    assert r.status >= 400 or any("error" in m for m in r.stream())


# --- the daemon process ------------------------------------------------------------------


def _run(*args, timeout=20):
    return subprocess.run([str(DOCKYARDD), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_version_flag():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.startswith("dockyardd version")


def test_tcp_without_tls_refused(tmp_path):
    r = _run("-H", "tcp://127.0.0.1:2375", "--data-root", str(tmp_path / "d"))
    assert r.returncode == 1
    assert "refusing to listen on tcp://127.0.0.1:2375 without mutual TLS" in r.stderr
    assert not (tmp_path / "d").exists()


def test_config_file_and_conflicts(tmp_path):
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"bogus-key": 1}))
    r = _run("--config-file", str(conf), "--data-root", str(tmp_path / "d"))
    assert r.returncode == 1 and "bogus-key" in r.stderr
    conf.write_text(json.dumps({"data-root": str(tmp_path / "d")}))
    r = _run("--config-file", str(conf), "--data-root", str(tmp_path / "d"))
    assert r.returncode == 1 and "both as a flag and in the configuration file" in r.stderr
    r = _run("--default-ulimit", "nofile=10:5", "--data-root", str(tmp_path / "d"))
    assert r.returncode == 1 and "soft limit" in r.stderr


def test_config_file_applies(tmp_path):
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"insecure-registries": ["myreg:5000"],
                                "registry-mirrors": ["http://127.0.0.1:1"],
                                "live-restore": False, "log-driver": "local",
                                "runtimes": {"runc": {"path": "/usr/sbin/runc"}},
                                "default-runtime": "runc"}))
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with running_daemon("--config-file", str(conf)) as d:
        info = d.request("GET", "/info").json()
    assert info["DefaultRuntime"] == "runc" and info["LiveRestoreEnabled"] is False
    assert info["LoggingDriver"] == "local"
    assert info["RegistryConfig"]["IndexConfigs"]["myreg:5000"]["Secure"] is False


def test_second_daemon_refused_and_sigterm_cleans_up():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    t0 = time.monotonic()
    with running_daemon() as d:
        started = time.monotonic() - t0
        other = _run("-H", f"unix://{d.dir}/other.sock", "--data-root", str(d.data_root),
                     "--exec-root", str(d.dir / "run2"))
        assert other.returncode == 1 and "another dockyardd is running" in other.stderr
        assert not (d.dir / "other.sock").exists()
        assert d.socket.is_socket()
        pidfile = d.exec_root / "dockyardd.pid"
        assert pidfile.exists()
        rc = stop_daemon(d)
        assert rc == 0, d.log_text()
        assert not d.socket.exists() and not pidfile.exists()
        assert "Traceback" not in d.log_text()
        # the lock went with it: a new daemon starts on the same data root
        again = _run("-H", f"unix://{d.dir}/again.sock", "--data-root", str(d.data_root),
                     "--exec-root", str(d.dir / "run3"), "--version")
        assert again.returncode == 0
    assert started < 5  # generous for a loaded CI box; well under a second when idle


def test_start_is_fast():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    times = []
    for _ in range(2):
        t0 = time.monotonic()
        with running_daemon() as d:
            times.append(time.monotonic() - t0)
            assert d.request("GET", "/_ping").body == b"OK"
    assert min(times) < 1.5, times


_ = Path

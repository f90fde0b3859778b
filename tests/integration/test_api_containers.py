"""Container endpoints of dockyardd over its unix socket (raw HTTP): lifecycle, exit codes,
logs framing and follow, list filters, rename, inspect (NetworkSettings on the bridge),
hijacked attach with stdin, two containers pinging each other on the default bridge.

Hermetic: see test_api_containers_support.container_daemon."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import quote

import pytest
from test_api_containers_support import container_daemon, demux, read_all, usable

pytestmark = pytest.mark.root

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d


def test_create_start_wait_logs_echo(daemon):
    cid = daemon.create(["echo", "hi"])
    assert daemon.inspect(cid)["State"]["Status"] == "created"
    daemon.start(cid)
    assert daemon.wait(cid) == {"StatusCode": 0, "Error": None}
    r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert demux(r.body) == {1: b"hi\n", 2: b""}
    r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&timestamps=1")
    assert demux(r.body)[1].endswith(b"Z hi\n")
    assert daemon.request("DELETE", f"/v1.44/containers/{cid}").status == 204
    assert daemon.request("GET", f"/v1.44/containers/{cid}/json").status == 404


def test_missing_image_is_404_no_such_image(daemon):
    r = daemon.request("POST", "/v1.44/containers/create",
                       json.dumps({"Image": "nosuchimage:v9", "Cmd": ["true"]}).encode(),
                       {"Content-Type": "application/json"})
    assert r.status == 404
    assert "No such image: nosuchimage:v9" in r.json()["message"]


def test_exit_codes_stderr_and_tty_logs(daemon):
    cid = daemon.create(["sh", "-c", "echo out; echo err >&2; exit 3"])
    daemon.start(cid)
    assert daemon.wait(cid)["StatusCode"] == 3
    r = daemon.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert demux(r.body) == {1: b"out\n", 2: b"err\n"}
    r = daemon.request("GET", f"/containers/{cid}/logs?stderr=1&tail=1")
    assert demux(r.body) == {1: b"", 2: b"err\n"}
    tty = daemon.create(["echo", "tty"], Tty=True)
    daemon.start(tty)
    daemon.wait(tty)
    r = daemon.request("GET", f"/v1.44/containers/{tty}/logs?stdout=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert r.body.replace(b"\r", b"") == b"tty\n"
    for c in (cid, tty):
        daemon.request("DELETE", f"/containers/{c}")


def test_stop_kill_restart_and_rm_force(daemon):
    cid = daemon.create(["sleep", "300"], name="dyc-stopme")
    daemon.start(cid)
    assert daemon.request("POST", f"/containers/{cid}/start").status == 304
    t0 = time.monotonic()
    assert daemon.request("POST", "/containers/dyc-stopme/stop?t=1").status == 204
    assert time.monotonic() - t0 < 8
    st = daemon.inspect(cid)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] in (137, 143)
    assert daemon.request("POST", f"/containers/{cid}/stop").status == 304
    r = daemon.request("POST", f"/containers/{cid}/kill")
    assert r.status == 409 and "is not running" in r.json()["message"]
    assert daemon.request("POST", f"/containers/{cid}/restart?t=1").status == 204
    assert daemon.inspect(cid)["State"]["Running"] is True
    assert daemon.request("POST", f"/containers/{cid}/kill?signal=SIGKILL").status == 204
    assert daemon.wait(cid)["StatusCode"] == 137
    other = daemon.create(["sleep", "300"])
    daemon.start(other)
    r = daemon.request("DELETE", f"/containers/{other}")
    assert r.status == 409 and "container is running" in r.json()["message"]
    assert daemon.request("DELETE", f"/containers/{other}?force=1").status == 204
    assert daemon.request("DELETE", f"/containers/{cid}?v=1").status == 204


def test_list_filters_rename_and_inspect_network(daemon):
    a = daemon.create(["sleep", "300"], name="dyc-lista", Labels={"dyc": "a"})
    b = daemon.create(["true"], name="dyc-listb", Labels={"dyc": "b"})
    daemon.start(a)
    ids = [c["Id"] for c in daemon.json("GET", "/containers/json")]
    assert a in ids and b not in ids
    ids = [c["Id"] for c in daemon.json("GET", "/containers/json?all=1")]
    assert a in ids and b in ids
    f = quote(json.dumps({"label": {"dyc=b": True}}))
    assert [c["Id"] for c in daemon.json("GET", f"/containers/json?all=1&filters={f}")] == [b]
    f = quote(json.dumps({"status": ["created"], "name": ["dyc-list"]}))
    assert [c["Id"] for c in daemon.json("GET", f"/containers/json?filters={f}")] == [b]
    assert len(daemon.json("GET", "/containers/json?all=1&limit=1")) == 1
    summary = next(c for c in daemon.json("GET", "/containers/json") if c["Id"] == a)
    assert summary["Names"] == ["/dyc-lista"] and summary["Status"].startswith("Up")
    assert summary["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert daemon.request("POST", f"/containers/{b}/rename?name=dyc-renamed").status == 204
    assert daemon.inspect("dyc-renamed")["Id"] == b
    r = daemon.request("POST", f"/containers/{b}/rename?name=dyc-lista")
    assert r.status == 409
    info = daemon.inspect(a)
    ns = info["NetworkSettings"]
    assert ns["IPAddress"] and ns["Gateway"] and ns["Networks"]["bridge"]["IPAddress"] \
        == ns["IPAddress"]
    import ipaddress

    assert ipaddress.ip_address(ns["IPAddress"]) in ipaddress.ip_network(daemon.subnet)
    assert info["Name"] == "/dyc-lista" and info["Image"].startswith("sha256:")
    assert info["HostConfig"]["LogConfig"]["Type"] == "json-file"
    for key in ("State", "Config", "HostConfig", "NetworkSettings"):
        assert isinstance(info[key], dict)
    with open(info["HostsPath"]) as f:
        hosts = f.read()
    assert ns["IPAddress"] in hosts
    top = daemon.json("GET", f"/containers/{a}/top", status=200)
    assert "PID" in top["Titles"] and any("sleep" in " ".join(p) for p in top["Processes"])
    stats = daemon.json("GET", f"/containers/{a}/stats?stream=false&one-shot=true", status=200)
    assert stats["id"] == a and "cpu_stats" in stats and "memory_stats" in stats
    assert daemon.request("POST", f"/containers/{a}/pause").status == 204
    assert daemon.inspect(a)["State"]["Status"] == "paused"
    assert daemon.request("POST", f"/containers/{a}/unpause").status == 204
    r = daemon.json("POST", f"/containers/{a}/update", {"CpuShares": 512}, status=200)
    assert r == {"Warnings": []}
    daemon.request("DELETE", f"/containers/{a}?force=1")
    pruned = daemon.json("POST", "/containers/prune", status=200)
    assert b in pruned["ContainersDeleted"]


def test_attach_with_stdin(daemon):
    cid = daemon.create(["cat"], OpenStdin=True, StdinOnce=True, AttachStdin=True,
                        AttachStdout=True, AttachStderr=True)
    head, sock = daemon.hijack(f"/v1.44/containers/{cid}/attach?stream=1&stdin=1&stdout=1"
                               "&stderr=1")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
    assert b"Upgrade: tcp" in head and b"multiplexed-stream" in head
    waiter = {}
    t = threading.Thread(target=lambda: waiter.update(daemon.wait(cid, "next-exit")))
    t.start()
    time.sleep(0.2)
    daemon.start(cid)
    sock.sendall(b"hello through attach\n")
    import socket as _s

    sock.shutdown(_s.SHUT_WR)  # the CLI's CloseWrite: only stdin ends
    out = read_all(sock)
    sock.close()
    t.join(30)
    assert demux(out)[1] == b"hello through attach\n"
    assert waiter == {"StatusCode": 0, "Error": None}
    daemon.request("DELETE", f"/containers/{cid}")


def test_attach_running_and_disconnect_mid_stream(daemon):
    cid = daemon.create(["sh", "-c", "while true; do echo tick; sleep 0.1; done"])
    daemon.start(cid)
    head, sock = daemon.hijack(f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    assert b" 101 " in head
    data = sock.recv(64)
    assert b"tick" in data
    sock.close()  # gone mid-stream: the daemon must live on
    time.sleep(0.3)
    assert daemon.inspect(cid)["State"]["Running"] is True
    r = daemon.request("GET", f"/containers/{cid}/logs?stdout=1&tail=2")
    assert demux(r.body)[1] == b"tick\ntick\n"
    daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_logs_follow_ends_at_exit(daemon):
    cid = daemon.create(["sh", "-c", "echo one; sleep 1; echo two"])
    daemon.start(cid)
    t0 = time.monotonic()
    r = daemon.request("GET", f"/containers/{cid}/logs?stdout=1&follow=1", timeout=30)
    assert demux(r.body)[1] == b"one\ntwo\n"
    assert time.monotonic() - t0 < 15
    daemon.request("DELETE", f"/containers/{cid}")


def test_two_containers_ping_each_other(daemon):
    a = daemon.create(["sleep", "300"])
    daemon.start(a)
    ip_a = daemon.inspect(a)["NetworkSettings"]["IPAddress"]
    b = daemon.create(["ping", "-c", "2", "-W", "2", ip_a])
    daemon.start(b)
    assert daemon.wait(b)["StatusCode"] == 0, daemon.request(
        "GET", f"/containers/{b}/logs?stdout=1&stderr=1").body
    out = demux(daemon.request("GET", f"/containers/{b}/logs?stdout=1").body)[1]
    assert b"2 packets received" in out
    daemon.request("DELETE", f"/containers/{a}?force=1")
    daemon.request("DELETE", f"/containers/{b}")
    from dockyard.network import bridge as br

    assert br.bridge_ports(daemon.bridge) == []


def test_network_none_has_only_loopback(daemon):
    cid = daemon.create(["cat", "/proc/net/dev"], HostConfig={"NetworkMode": "none"})
    daemon.start(cid)
    assert daemon.wait(cid)["StatusCode"] == 0
    out = demux(daemon.request("GET", f"/containers/{cid}/logs?stdout=1").body)[1]
    assert b"lo:" in out and b"eth0" not in out
    info = daemon.inspect(cid)
    assert info["NetworkSettings"]["IPAddress"] == ""
    assert "none" in info["NetworkSettings"]["Networks"]
    daemon.request("DELETE", f"/containers/{cid}")
    r = daemon.request("POST", "/containers/create",
                       json.dumps({"Image": "busybox", "Cmd": ["true"],
                                   "HostConfig": {"NetworkMode": "nosuchnet"}}).encode(),
                       {"Content-Type": "application/json"})
    # as dockerd: create succeeds (a 404 there makes the docker CLI pull), start fails
    assert r.status == 201, r.body
    cid = r.json()["Id"]
    r = daemon.request("POST", f"/containers/{cid}/start")
    assert r.status == 404 and "network nosuchnet not found" in r.json()["message"]
    daemon.request("DELETE", f"/containers/{cid}")


def test_daemon_restart_keeps_running_containers(daemon):
    cid = daemon.create(["sleep", "300"])
    daemon.start(cid)
    before = daemon.inspect(cid)
    # an attach and an idle logs follow are open while the daemon stops: they must not
    # hold the shutdown back
    _head, sock = daemon.hijack(f"/containers/{cid}/attach?stream=1&stdout=1")
    import socket

    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(str(daemon.socket))
    idle.sendall(f"GET /containers/{cid}/logs?stdout=1&follow=1 HTTP/1.1\r\n"
                 "Host: docker\r\n\r\n".encode())
    time.sleep(0.3)
    try:
        took = daemon.restart()
    finally:
        sock.close()
        idle.close()
    assert took < 10
    after = daemon.inspect(cid)
    assert after["State"]["Status"] == "running"
    assert after["State"]["Pid"] == before["State"]["Pid"]
    assert after["NetworkSettings"]["IPAddress"] == before["NetworkSettings"]["IPAddress"]
    assert daemon.request("POST", f"/containers/{cid}/stop?t=1").status == 204
    daemon.request("DELETE", f"/containers/{cid}")

"""Bad input does not harm the daemon: malformed JSON, wrong types and unknown enum
values are 400s that name the field; clients that go away in the middle of a stream
(logs -f, attach, events, stats) leave no handler, fd or stuck shutdown behind; a
container flooding its output does not hold up other requests.
Hermetic: see test_api_containers_support.container_daemon (its finalizer also checks
that the daemon stops cleanly on SIGTERM, which a stuck handler would prevent)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from test_api_containers_support import container_daemon, usable

pytestmark = [pytest.mark.root]

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d


def _create(daemon, body: bytes):
    return daemon.request("POST", "/v1.44/containers/create", body,
                          {"Content-Type": "application/json"})


@pytest.mark.parametrize("body,needle", [
    (b'{"Image": "busybox", "Cmd": [', "invalid JSON"),
    (b'"just a string"', "invalid JSON"),
    (b'{"Image": 5}', "ContainerConfigWrapper.Image of type string"),
    (b'{"Image": "busybox", "Tty": "yes"}', "ContainerConfigWrapper.Tty of type bool"),
    (b'{"Image": "busybox", "HostConfig": {"Memory": "1g"}}',
     "ContainerConfigWrapper.HostConfig.Memory of type int64"),
    (b'{"Image": "busybox", "HostConfig": {"Ulimits": [{"Name": "nofile", "Hard": "x"}]}}',
     "HostConfig.Ulimits.Hard of type int64"),
    (b'{"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}',
     "invalid restart policy 'sometimes'"),
    (b'{"Image": "busybox", "HostConfig": {"IpcMode": "weird"}}', "invalid IPC mode: weird"),
    (b'{"Image": "busybox", "HostConfig": {"CgroupnsMode": "x"}}',
     "invalid cgroup namespace mode: x"),
    (b'{"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "nope"}}}',
     "no log driver named 'nope'"),
    (b'{"Image": "busybox", "StopSignal": "SIGNOPE"}', "Invalid signal: SIGNOPE"),
])
def test_create_bad_body_is_400_naming_the_field(daemon, body, needle):
    before = daemon.json("GET", "/v1.44/containers/json?all=1", status=200)
    r = _create(daemon, body)
    assert r.status == 400, (r.status, r.body)
    assert needle in r.json()["message"]
    assert daemon.json("GET", "/v1.44/containers/json?all=1", status=200) == before


def test_exec_and_update_bad_body_is_400(daemon):
    cid = daemon.create(["sleep", "300"])
    daemon.start(cid)
    try:
        for path, body, needle in [
                ("exec", {"Cmd": "ls"}, "ExecConfig.Cmd of type []string"),
                ("exec", {"Cmd": ["ls"], "Tty": "x"}, "ExecConfig.Tty of type bool"),
                ("update", {"Memory": "1g"}, "UpdateConfig.Memory of type int64"),
                ("update", {"RestartPolicy": {"Name": "bogus"}},
                 "invalid restart policy 'bogus'")]:
            r = daemon.request("POST", f"/v1.44/containers/{cid}/{path}",
                               json.dumps(body).encode(),
                               {"Content-Type": "application/json"})
            assert r.status == 400, (path, body, r.status, r.body)
            assert needle in r.json()["message"]
        assert daemon.inspect(cid)["State"]["Running"] is True
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


@pytest.mark.parametrize("method,path,needle", [
    ("GET", "/v1.44/containers/json?filters=%7Bbad", "invalid filter"),
    ("GET", "/v1.44/containers/json?limit=many", "limit"),
    ("GET", "/v1.44/events?since=yesterday", "yesterday"),
    ("GET", "/v1.44/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D", "colour"),
])
def test_bad_query_is_400(daemon, method, path, needle):
    r = daemon.request(method, path)
    assert r.status == 400, (r.status, r.body)
    assert needle in r.json()["message"]


def _fds(pid: int) -> list[str]:
    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if "/metadata.db" not in target:  # per-thread SQLite connections
            out.append(target)
    return sorted(out)


def _open(daemon, request: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(str(daemon.socket))
    sock.sendall(request)
    got = b""
    while b"\r\n\r\n" not in got:  # the response has begun: the handler is streaming
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    return sock


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: d\r\n\r\n".encode()


def test_clients_gone_mid_stream_leave_nothing(daemon):
    pid = daemon.d.process.pid
    cid = daemon.create(["sh", "-c", "while :; do echo tick; sleep 0.05; done"], Tty=False,
                        OpenStdin=True)
    daemon.start(cid)
    daemon.request("GET", "/_ping")
    time.sleep(0.3)
    baseline = _fds(pid)
    attach = (f"POST /v1.44/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1 "
              "HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              "Content-Length: 0\r\n\r\n").encode()
    for _ in range(3):
        socks = [_open(daemon, _get(f"/v1.44/containers/{cid}/logs?follow=1&stdout=1")),
                 _open(daemon, attach),
                 _open(daemon, _get("/v1.44/events")),
                 _open(daemon, _get(f"/v1.44/containers/{cid}/stats?stream=1"))]
        for s in (socks[0], socks[1], socks[3]):  # output flows (events: none yet)
            assert s.recv(1)
        for s in socks:  # gone without a word, while output keeps coming
            s.close()
    # Every handler notices and lets go of what it held: back to the baseline.
    deadline = time.monotonic() + 10
    while _fds(pid) != baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _fds(pid) == baseline
    assert daemon.request("GET", "/_ping").body == b"OK"
    assert daemon.inspect(cid)["State"]["Running"] is True
    daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def test_flooding_container_does_not_block_others(daemon):
    flood = daemon.create(["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz"],
                          HostConfig={"LogConfig": {"Type": "json-file", "Config": {
                              "max-size": "1m", "max-file": "2"}}})
    quiet = daemon.create(["sleep", "300"])
    daemon.start(quiet)
    daemon.start(flood)
    # A follower that never reads: its socket buffers fill, its handler must wait alone.
    stuck = _open(daemon, _get(f"/v1.44/containers/{flood}/logs?follow=1&stdout=1"))
    try:
        t_end = time.monotonic() + 3
        worst = 0.0
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            assert daemon.request("GET", "/_ping", timeout=10).status == 200
            assert daemon.inspect(quiet)["State"]["Running"] is True
            r = daemon.request("GET", "/v1.44/containers/json", timeout=10)
            assert r.status == 200 and {c["Id"] for c in r.json()} >= {flood, quiet}
            worst = max(worst, time.monotonic() - t0)
        assert worst < 2.0, worst
        # logs of the quiet one and an exec in it still answer
        eid = daemon.json("POST", f"/v1.44/containers/{quiet}/exec",
                          {"Cmd": ["true"]}, 201)["Id"]
        r = daemon.request("POST", f"/v1.44/exec/{eid}/start",
                           json.dumps({"Detach": True}).encode(),
                           {"Content-Type": "application/json"}, timeout=10)
        assert r.status == 200, r.body
    finally:
        stuck.close()
        for cid in (flood, quiet):
            daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")

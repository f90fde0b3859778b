"""Detach keys on a hijacked attach (``detachKeys``), and the events around attach and
exec (``attach``, ``detach``, ``exec_create: CMD``, ``exec_start: CMD``, ``exec_die``,
``exec_detach``), read back with ``GET /events`` filters and since/until.
Hermetic: see test_api_containers_support.container_daemon."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import quote

import pytest
from test_api_containers_support import container_daemon, demux, read_all, usable

pytestmark = [pytest.mark.root]

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d


def _events(daemon, since: float, filters: dict) -> list[dict]:
    until = time.time() + 0.01
    r = daemon.request("GET", f"/v1.44/events?since={since:.6f}&until={until:.6f}"
                       f"&filters={quote(json.dumps(filters))}")
    assert r.status == 200, r.body
    return r.stream()


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    got = b""
    while marker not in got:
        chunk = sock.recv(4096)
        assert chunk, f"stream ended before {marker!r}: {got!r}"
        got += chunk
    return got


def _tty_shell(daemon) -> str:
    cid = daemon.create(["sh"], Tty=True, OpenStdin=True, AttachStdin=True,
                        AttachStdout=True, AttachStderr=True)
    daemon.start(cid)
    return cid


@pytest.mark.parametrize("keys,typed", [(None, b"\x10\x11"), ("ctrl-a,x", b"\x01x"),
                                        ("ctrl-@,ctrl-^", b"\x00\x1e")])
def test_attach_detach_keys_end_stream_container_runs(daemon, keys, typed):
    cid = _tty_shell(daemon)
    t0 = time.time()
    q = "" if keys is None else f"&detachKeys={quote(keys)}"
    head, sock = daemon.hijack(f"/v1.44/containers/{cid}/attach?stream=1&stdin=1&stdout=1"
                               f"&stderr=1{q}", timeout=20)
    try:
        assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
        assert b"raw-stream" in head
        sock.sendall(b"echo mark$((6*7))\n")
        _read_until(sock, b"mark42")
        # The first key alone is held back, then forwarded when the sequence breaks.
        sock.sendall(typed[:1] + b"Z")
        sock.sendall(typed)
        t_detach = time.monotonic()
        read_all(sock)  # the daemon closes the stream
        assert time.monotonic() - t_detach < 5
    finally:
        sock.close()
    info = daemon.inspect(cid)
    assert info["State"]["Running"] is True  # detached, not stopped
    actions = [e["Action"] for e in _events(daemon, t0, {"container": [cid]})]
    assert actions == ["attach", "detach"], actions
    daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def test_attach_without_tty_ignores_detach_keys(daemon):
    cid = daemon.create(["cat"], OpenStdin=True, StdinOnce=True, AttachStdin=True,
                        AttachStdout=True)
    daemon.start(cid)
    head, sock = daemon.hijack(f"/v1.44/containers/{cid}/attach?stream=1&stdin=1&stdout=1")
    try:
        assert b" 101 " in head
        sock.sendall(b"a\x10\x11b\n")  # no TTY: the keys are data
        sock.shutdown(socket.SHUT_WR)
        out = read_all(sock)
    finally:
        sock.close()
    assert demux(out)[1] == b"a\x10\x11b\n"
    assert daemon.wait(cid)["StatusCode"] == 0
    daemon.request("DELETE", f"/v1.44/containers/{cid}")


@pytest.mark.parametrize("keys", ["ctrl-", "ctrl-1", "ab", "ctrl-a,,x"])
def test_attach_invalid_detach_keys_is_400(daemon, keys):
    cid = _tty_shell(daemon)
    try:
        r = daemon.request("POST", f"/v1.44/containers/{cid}/attach?stream=1&stdin=1"
                           f"&detachKeys={quote(keys)}")
        assert r.status == 400, r.body
        assert r.json() == {"message": f"Invalid detach keys ({keys}) provided"}
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def _exec(daemon, cid: str, cmd: list[str], **extra) -> tuple[str, dict[int, bytes]]:
    eid = daemon.json("POST", f"/v1.44/containers/{cid}/exec",
                      {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True, **extra},
                      201)["Id"]
    head, sock = daemon.hijack(f"/v1.44/exec/{eid}/start",
                               json.dumps({"Detach": False, "Tty": False}).encode())
    try:
        assert b" 101 " in head, head
        sock.shutdown(socket.SHUT_WR)
        return eid, demux(read_all(sock))
    finally:
        sock.close()


def test_exec_events_with_filters(daemon):
    cid = daemon.create(["sleep", "300"], Labels={"team": "dyc"})
    daemon.start(cid)
    t0 = time.time()
    eid, out = _exec(daemon, cid, ["sh", "-c", "echo hi; exit 4"])
    assert out[1] == b"hi\n"
    eid2, _ = _exec(daemon, cid, ["true"])
    events = _events(daemon, t0, {"container": [cid]})
    mine = [(e["Action"], e["Actor"]["Attributes"].get("execID")) for e in events]
    assert mine == [("exec_create: sh -c echo hi; exit 4", eid),
                    ("exec_start: sh -c echo hi; exit 4", eid), ("exec_die", eid),
                    ("exec_create: true ", eid2), ("exec_start: true ", eid2),
                    ("exec_die", eid2)], mine
    die = [e for e in events if e["Action"] == "exec_die"]
    assert [e["Actor"]["Attributes"]["exitCode"] for e in die] == ["4", "0"]
    for e in events:
        attrs = e["Actor"]["Attributes"]
        assert e["Type"] == "container" and e["Actor"]["ID"] == cid and e["id"] == cid
        assert attrs["image"] == "busybox" and attrs["team"] == "dyc" and attrs["name"]
    # "event" filters match the action before the colon, as moby's
    died = _events(daemon, t0, {"event": ["exec_die"], "container": [cid]})
    assert [e["Actor"]["Attributes"]["execID"] for e in died] == [eid, eid2]
    created = _events(daemon, t0, {"event": ["exec_create"], "label": ["team=dyc"]})
    assert [e["Actor"]["Attributes"]["execID"] for e in created] == [eid, eid2]
    assert _events(daemon, t0, {"event": ["exec_die"], "label": ["team=other"]}) == []
    assert _events(daemon, time.time() + 0.001, {"event": ["exec_die"]}) == []
    daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def test_exec_die_streams_live_and_exec_detach(daemon):
    from test_api_support import UnixHTTPConnection

    cid = daemon.create(["sleep", "300"])
    daemon.start(cid)
    conn = UnixHTTPConnection(str(daemon.socket), timeout=20)
    try:
        filters = quote(json.dumps({"container": [cid], "event": ["exec_die",
                                                                  "exec_detach"]}))
        conn.request("GET", f"/v1.44/events?filters={filters}")
        resp = conn.getresponse()
        assert resp.status == 200
        eid, _ = _exec(daemon, cid, ["sh", "-c", "exit 9"])
        event = json.loads(resp.readline())
        assert event["Action"] == "exec_die"
        assert event["Actor"]["Attributes"]["execID"] == eid
        assert event["Actor"]["Attributes"]["exitCode"] == "9"
        # A TTY exec detached with its keys: exec_detach, the process runs on.
        eid = daemon.json("POST", f"/v1.44/containers/{cid}/exec",
                          {"Cmd": ["cat"], "Tty": True, "AttachStdin": True,
                           "AttachStdout": True, "DetachKeys": "ctrl-x"}, 201)["Id"]
        head, sock = daemon.hijack(f"/v1.44/exec/{eid}/start",
                                   json.dumps({"Detach": False, "Tty": True}).encode())
        try:
            assert b" 101 " in head
            sock.sendall(b"abc\n")
            _read_until(sock, b"abc")
            sock.sendall(b"\x18")
            read_all(sock)
        finally:
            sock.close()
        event = json.loads(resp.readline())
        assert event["Action"] == "exec_detach"
        assert event["Actor"]["Attributes"]["execID"] == eid
        info = daemon.json("GET", f"/v1.44/exec/{eid}/json", status=200)
        assert info["Running"] is True
    finally:
        conn.close()
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")

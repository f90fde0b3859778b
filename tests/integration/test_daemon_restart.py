"""Restart safety: SIGKILL dockyardd (by the pid this test started) while containers
run; they keep running, and a new daemon on the same data and exec roots re-adopts
them: ps, logs (ticks from before and after), exec, stop, wait; a container that
exited while no daemon ran has its exit code recorded; health probing resumes.
Hermetic: see test_api_containers_support.container_daemon."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
from test_api_containers_support import container_daemon, demux, read_all, usable
from test_api_support import start_daemon

pytestmark = [pytest.mark.root, pytest.mark.slow]

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)

MS = 1_000_000
TICK = ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _log_ticks(daemon, cid) -> int:
    r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1")
    assert r.status == 200, r.body
    return demux(r.body)[1].count(b"tick\n")


def _exec(daemon, cid, cmd) -> tuple[dict[int, bytes], int]:
    eid = daemon.json("POST", f"/v1.44/containers/{cid}/exec",
                      {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True}, 201)["Id"]
    head, sock = daemon.hijack(f"/v1.44/exec/{eid}/start",
                               json.dumps({"Detach": False, "Tty": False}).encode())
    try:
        assert b" 101 " in head.split(b"\r\n")[0], head
        sock.shutdown(socket.SHUT_WR)
        out = demux(read_all(sock))
    finally:
        sock.close()
    return out, daemon.json("GET", f"/v1.44/exec/{eid}/json", status=200)["ExitCode"]


def test_sigkill_daemon_containers_survive_and_are_readopted():
    with container_daemon() as daemon:
        ticker = daemon.create(TICK, name="ticker", Healthcheck={
            "Test": ["CMD", "true"], "Interval": 200 * MS, "Retries": 1})
        daemon.start(ticker)
        quitter = daemon.create(["sh", "-c", "sleep 1.5; exit 7"])
        daemon.start(quitter)
        time.sleep(1.0)
        before = daemon.inspect(ticker)
        assert before["State"]["Health"]["Status"] == "healthy"
        pid = before["State"]["Pid"]
        ticks_before = _log_ticks(daemon, ticker)
        assert ticks_before >= 2

        old = daemon.d.process
        os.kill(old.pid, signal.SIGKILL)
        old.wait(timeout=10)
        # The container runs on without a daemon (its shim logs on).
        assert _alive(pid)
        time.sleep(1.5)  # the quitter exits meanwhile
        assert _alive(pid)

        daemon.d = start_daemon(daemon.d.dir, "--dns", "127.0.0.1")
        ps = daemon.json("GET", "/v1.44/containers/json", status=200)
        running = {c["Id"]: c for c in ps}
        assert ticker in running and running[ticker]["State"] == "running"
        assert quitter not in running
        after = daemon.inspect(ticker)
        assert after["State"]["Pid"] == pid and after["State"]["Running"]
        q = daemon.inspect(quitter)
        assert q["State"]["Status"] == "exited" and q["State"]["ExitCode"] == 7
        assert daemon.wait(quitter) == {"StatusCode": 7, "Error": None}

        time.sleep(0.6)
        assert _log_ticks(daemon, ticker) > ticks_before + 5  # before, while down, after
        out, code = _exec(daemon, ticker, ["sh", "-c", "echo hello; exit 3"])
        assert out[1] == b"hello\n" and code == 3
        # health probing resumed for the re-adopted container
        n = len(daemon.inspect(ticker)["State"]["Health"]["Log"])
        time.sleep(0.7)
        health = daemon.inspect(ticker)["State"]["Health"]
        assert health["Status"] == "healthy"
        assert health["Log"][-1]["End"] > after["State"]["Health"]["Log"][-1]["End"] or \
            len(health["Log"]) > n

        waiter = {}

        import threading

        def wait() -> None:
            waiter["r"] = daemon.wait(ticker, timeout=60)

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.3)
        r = daemon.request("POST", f"/v1.44/containers/{ticker}/stop?t=1")
        assert r.status == 204, r.body
        t.join(30)
        assert waiter["r"]["StatusCode"] == 137
        assert not _alive(pid)
        assert daemon.inspect(ticker)["State"]["Status"] == "exited"

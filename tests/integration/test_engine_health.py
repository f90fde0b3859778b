"""Health checks and log drivers through a hermetic dockyardd: State.Health, the
health_status events, `ps` Status "(healthy)", timeouts, NONE; local and none drivers
with rotation. Hermetic: see test_api_containers_support.container_daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from urllib.parse import quote

import pytest
from test_api_containers_support import container_daemon, demux, usable

pytestmark = [pytest.mark.root, pytest.mark.slow]

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)

MS = 1_000_000


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d


def _health(daemon, cid):
    return daemon.inspect(cid)["State"].get("Health")


def _until(fn, timeout=15.0, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(step)


def test_health_starting_unhealthy_healthy_events_and_ps(daemon):
    t0 = time.time()
    cid = daemon.create(["sh", "-c", "sleep 2; touch /tmp/ok; sleep 300"], Healthcheck={
        "Test": ["CMD-SHELL", "echo probe; test -e /tmp/ok"], "Interval": 200 * MS,
        "Timeout": 2000 * MS, "Retries": 2})
    try:
        daemon.start(cid)
        first = _health(daemon, cid)
        assert first["Status"] == "starting" and first["FailingStreak"] == 0
        _until(lambda: _health(daemon, cid)["Status"] == "unhealthy")
        h = _health(daemon, cid)
        assert h["FailingStreak"] >= 2
        assert h["Log"][-1]["ExitCode"] == 1 and h["Log"][-1]["Output"] == "probe\n"
        _until(lambda: _health(daemon, cid)["Status"] == "healthy")
        time.sleep(1.5)
        h = _health(daemon, cid)
        assert h["Status"] == "healthy" and h["FailingStreak"] == 0
        assert len(h["Log"]) == 5
        assert all(set(e) == {"Start", "End", "ExitCode", "Output"} for e in h["Log"])
        # a probe's exec is dropped after it ran: at most the one in flight is listed
        assert len(daemon.inspect(cid)["ExecIDs"] or []) <= 1
        ps = daemon.json("GET", "/v1.44/containers/json", status=200)
        mine = next(c for c in ps if c["Id"] == cid)
        assert mine["Status"].startswith("Up ") and mine["Status"].endswith("(healthy)")
        flt = quote(json.dumps({"health": ["healthy"]}))
        ids = [c["Id"] for c in daemon.json("GET", f"/v1.44/containers/json?filters={flt}",
                                             status=200)]
        assert cid in ids
        if shutil.which("docker"):
            out = subprocess.run(["docker", "-H", daemon.url, "ps", "--format",
                                  "{{.ID}} {{.Status}}"], capture_output=True, text=True,
                                 timeout=30)
            assert f"{cid[:12]} Up" in out.stdout and "(healthy)" in out.stdout, out
        r = daemon.request("GET", f"/v1.44/events?since={int(t0)}&until={int(time.time()) + 1}"
                           f"&filters={quote(json.dumps({'container': [cid]}))}")
        actions = [json.loads(line)["Action"] for line in r.body.splitlines() if line.strip()]
        health = [a for a in actions if a.startswith("health_status")]
        assert health[:2] == ["health_status: unhealthy", "health_status: healthy"], actions
        # probing stops with the container
        assert daemon.request("POST", f"/v1.44/containers/{cid}/stop?t=0").status == 204
        stopped = _health(daemon, cid)
        time.sleep(0.8)
        assert _health(daemon, cid)["Log"] == stopped["Log"]
        assert stopped["Status"] == "unhealthy"
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def test_health_timeout_and_none(daemon):
    cid = daemon.create(["sleep", "300"], Healthcheck={
        "Test": ["CMD", "sleep", "10"], "Interval": 100 * MS, "Timeout": 300 * MS,
        "Retries": 1})
    other = daemon.create(["sleep", "300"], Healthcheck={"Test": ["NONE"]})
    try:
        daemon.start(cid)
        daemon.start(other)
        _until(lambda: _health(daemon, cid)["Status"] == "unhealthy")
        entry = _health(daemon, cid)["Log"][0]
        assert entry["ExitCode"] == -1
        assert entry["Output"] == "Health check exceeded timeout (300ms)"
        assert _health(daemon, other) is None
        ps = daemon.json("GET", "/v1.44/containers/json", status=200)
        assert next(c for c in ps if c["Id"] == other)["Status"].startswith("Up ")
        assert "(" not in next(c for c in ps if c["Id"] == other)["Status"]
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")
        daemon.request("DELETE", f"/v1.44/containers/{other}?force=1")


def test_log_driver_local_rotates_and_is_readable(daemon):
    script = "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"
    cid = daemon.create(["sh", "-c", script], HostConfig={"LogConfig": {
        "Type": "local", "Config": {"max-size": "2k", "max-file": "3"}}})
    try:
        daemon.start(cid)
        assert daemon.wait(cid)["StatusCode"] == 0
        info = daemon.inspect(cid)
        path = info["LogPath"]
        assert path.endswith("/local-logs/container.log")
        files = sorted(os.listdir(os.path.dirname(path)))
        assert files == ["container.log", "container.log.1", "container.log.2"]
        assert all(os.path.getsize(os.path.join(os.path.dirname(path), f)) <= 2048
                   for f in files)
        r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1")
        assert r.status == 200
        lines = demux(r.body)[1].decode().splitlines()
        assert lines[-1] == "line299" and 10 < len(lines) < 300
        assert lines == [f"line{n}" for n in range(300 - len(lines), 300)]
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def test_log_driver_json_file_max_size(daemon):
    script = "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"
    cid = daemon.create(["sh", "-c", script], HostConfig={"LogConfig": {
        "Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}}})
    try:
        daemon.start(cid)
        assert daemon.wait(cid)["StatusCode"] == 0
        path = daemon.inspect(cid)["LogPath"]
        assert os.path.exists(path + ".1") and not os.path.exists(path + ".2")
        r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&tail=2")
        assert demux(r.body)[1] == b"line298\nline299\n"
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")


def test_log_driver_none_and_bad_driver(daemon):
    cid = daemon.create(["echo", "hi"], HostConfig={"LogConfig": {"Type": "none"}})
    try:
        daemon.start(cid)
        assert daemon.wait(cid)["StatusCode"] == 0
        r = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1")
        assert r.status == 501
        assert r.json()["message"] == "configured logging driver does not support reading"
        assert daemon.inspect(cid)["LogPath"] == ""
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")
    body = json.dumps({"Image": "busybox", "Cmd": ["true"],
                       "HostConfig": {"LogConfig": {"Type": "nosuch"}}}).encode()
    r = daemon.request("POST", "/v1.44/containers/create", body,
                       {"Content-Type": "application/json"})
    assert r.status == 400 and "no log driver named 'nosuch'" in r.json()["message"]


def test_image_healthcheck_inherited_overridden_and_disabled(daemon):
    base = daemon.create(["true"])
    change = quote("HEALTHCHECK --interval=200ms --retries=1 CMD echo from-image")
    try:
        r = daemon.request("POST", f"/v1.44/commit?container={base}&repo=hcimg&tag=t1"
                           f"&changes={change}")
        assert r.status == 201, r.body
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{base}?force=1")
    made = []
    try:
        inherit = daemon.json("POST", "/v1.44/containers/create",
                              {"Image": "hcimg:t1", "Cmd": ["sleep", "300"]}, 201)["Id"]
        made.append(inherit)
        tuned = daemon.json("POST", "/v1.44/containers/create",
                            {"Image": "hcimg:t1", "Cmd": ["sleep", "300"],
                             "Healthcheck": {"Retries": 4}}, 201)["Id"]
        made.append(tuned)
        off = daemon.json("POST", "/v1.44/containers/create",
                          {"Image": "hcimg:t1", "Cmd": ["sleep", "300"],
                           "Healthcheck": {"Test": ["NONE"]}}, 201)["Id"]
        made.append(off)
        cfg = daemon.inspect(tuned)["Config"]["Healthcheck"]
        assert cfg["Test"] == ["CMD-SHELL", "echo from-image"] and cfg["Retries"] == 4
        assert cfg["Interval"] == 200 * MS
        for cid in made:
            daemon.start(cid)
        _until(lambda: (_health(daemon, inherit) or {}).get("Status") == "healthy")
        assert _health(daemon, inherit)["Log"][-1]["Output"] == "from-image\n"
        _until(lambda: (_health(daemon, tuned) or {}).get("Status") == "healthy")
        time.sleep(0.5)
        assert _health(daemon, off) is None
    finally:
        for cid in made:
            daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")
        daemon.request("DELETE", "/v1.44/images/hcimg:t1?force=1")


def test_no_probes_while_paused_and_restart_resets(daemon):
    cid = daemon.create(["sleep", "300"], Healthcheck={
        "Test": ["CMD", "true"], "Interval": 150 * MS, "Retries": 1})
    try:
        daemon.start(cid)
        _until(lambda: _health(daemon, cid)["Status"] == "healthy")
        assert daemon.request("POST", f"/v1.44/containers/{cid}/pause").status == 204
        time.sleep(0.3)
        frozen = _health(daemon, cid)["Log"]
        time.sleep(0.6)
        assert _health(daemon, cid)["Log"] == frozen
        ps = daemon.json("GET", "/v1.44/containers/json", status=200)
        assert next(c for c in ps if c["Id"] == cid)["Status"].endswith("(Paused)")
        assert daemon.request("POST", f"/v1.44/containers/{cid}/unpause").status == 204
        _until(lambda: _health(daemon, cid)["Log"][-1] != frozen[-1])
        r = daemon.request("POST", f"/v1.44/containers/{cid}/restart?t=0")
        assert r.status == 204
        assert _health(daemon, cid)["Status"] == "starting"
        _until(lambda: _health(daemon, cid)["Status"] == "healthy")
    finally:
        daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")

"""Health checks (merge, probe command, result handling, ps suffix) and log drivers."""

from __future__ import annotations

import pytest

from dockyard.engine import health as h
from dockyard.engine import logdrivers as ld
from dockyard.engine.containers import human_status
from dockyard.engine.errors import InvalidParameter

pytestmark = pytest.mark.unit

S = 1_000_000_000


def test_merge_inherits_image_test_and_durations():
    image = {"Test": ["CMD", "true"], "Interval": 5 * S, "Retries": 2}
    assert h.merge(None, image) == image
    assert h.merge({}, image) == image
    got = h.merge({"Interval": 1 * S}, image)
    assert got == {"Test": ["CMD", "true"], "Interval": 1 * S, "Retries": 2}
    got = h.merge({"Test": ["CMD-SHELL", "exit 1"]}, image)
    assert got["Test"] == ["CMD-SHELL", "exit 1"] and got["Interval"] == 5 * S
    assert h.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    assert h.merge(None, None) is None


@pytest.mark.parametrize("test,cmd", [
    (["CMD", "ls", "-l"], ["ls", "-l"]),
    (["CMD-SHELL", "curl -f x || exit 1"], ["/bin/sh", "-c", "curl -f x || exit 1"]),
    ("echo hi", ["/bin/sh", "-c", "echo hi"]),
    (["NONE"], None),
    ([], None),
    (["CMD"], None),
])
def test_probe_command(test, cmd):
    assert h.probe_command({"Test": test}) == cmd


def test_probe_command_absent():
    assert h.probe_command(None) is None


def test_validate():
    h.validate(None)
    h.validate({"Interval": 2 * S, "Retries": 1})
    with pytest.raises(InvalidParameter):
        h.validate({"Interval": -1})
    with pytest.raises(InvalidParameter):
        h.validate({"Timeout": 10})  # under 1 ms
    with pytest.raises(InvalidParameter):
        h.validate({"Retries": -2})


def _res(code):
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_apply_result_transitions_and_keeps_last_five():
    health = {"Status": "starting", "FailingStreak": 0, "Log": []}
    h.apply_result(health, _res(1), 2, in_start_period=False)
    assert health["Status"] == "starting" and health["FailingStreak"] == 1
    h.apply_result(health, _res(1), 2, in_start_period=False)
    assert health["Status"] == "unhealthy" and health["FailingStreak"] == 2
    h.apply_result(health, _res(0), 2, in_start_period=False)
    assert health["Status"] == "healthy" and health["FailingStreak"] == 0
    for _ in range(6):
        h.apply_result(health, _res(3), 2, in_start_period=False)
    assert len(health["Log"]) == 5 and health["Status"] == "unhealthy"
    assert health["FailingStreak"] == 6


def test_start_period_failures_do_not_count_until_healthy():
    health = {"Status": "starting", "FailingStreak": 0, "Log": []}
    for _ in range(5):
        h.apply_result(health, _res(1), 1, in_start_period=True)
    assert health["Status"] == "starting" and health["FailingStreak"] == 0
    h.apply_result(health, _res(0), 1, in_start_period=True)
    h.apply_result(health, _res(1), 1, in_start_period=True)
    assert health["Status"] == "unhealthy"


def test_ps_status_suffix():
    st = {"Status": "running", "StartedAt": "2020-01-01T00:00:00Z",
          "Health": {"Status": "healthy"}}
    now = 1577836805 * S  # 5 s later
    assert human_status(st, now) == "Up 5 seconds (healthy)"
    st["Health"]["Status"] = "starting"
    assert human_status(st, now) == "Up 5 seconds (health: starting)"
    st["Health"]["Status"] = "unhealthy"
    assert human_status(st, now) == "Up 5 seconds (unhealthy)"
    st["Status"] = "paused"
    assert human_status(st, now) == "Up 5 seconds (Paused)"
    del st["Health"]
    st["Status"] = "running"
    assert human_status(st, now) == "Up 5 seconds"


def test_log_driver_validation():
    ld.validate(None)
    ld.validate({"Type": "json-file", "Config": {"max-size": "10k", "max-file": "3"}})
    ld.validate({"Type": "local", "Config": {"max-size": "1m"}})
    ld.validate({"Type": "none", "Config": {}})
    with pytest.raises(InvalidParameter, match="no log driver named 'syslogx'"):
        ld.validate({"Type": "syslogx"})
    with pytest.raises(InvalidParameter, match="unknown log opt"):
        ld.validate({"Type": "none", "Config": {"max-size": "1k"}})
    with pytest.raises(InvalidParameter, match="max-file cannot be less than 1"):
        ld.validate({"Type": "json-file", "Config": {"max-file": "0"}})
    with pytest.raises(InvalidParameter):
        ld.validate({"Type": "local", "Config": {"max-size": "lots"}})


def test_log_paths_and_rotation():
    hc = {"LogConfig": {"Type": "local", "Config": {}}}
    assert ld.log_path("/c", "abc", hc) == "/c/local-logs/container.log"
    assert ld.rotation(hc) == (20 * 1024 * 1024, 5)
    hc["LogConfig"]["Config"] = {"max-size": "1k", "max-file": "2"}
    assert ld.rotation(hc) == (1024, 2)
    assert ld.log_path("/c", "abc", {}) == "/c/abc-json.log"
    assert ld.rotation({}, -1, 1) == (-1, 1)
    assert ld.log_path("/c", "abc", {"LogConfig": {"Type": "none"}}) == ""
    with pytest.raises(ld.ReadNotSupported) as err:
        ld.check_readable({"LogConfig": {"Type": "none"}})
    assert err.value.status == 501
    assert err.value.message == "configured logging driver does not support reading"

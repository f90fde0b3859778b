"""No leaks: 200 x `run --rm busybox true` through the API (create + start + wait, with
AutoRemove), then no leftover mount, cgroup, veth, netns file, shim process or
container record, and the daemon's open fd count is back where it started.
Hermetic: see test_api_containers_support.container_daemon."""

from __future__ import annotations

import glob
import os
import time

import pytest
from test_api_containers_support import (
    _find_dirs,
    _mounts_under,
    _shim_pids,
    container_daemon,
    usable,
)

pytestmark = [pytest.mark.root, pytest.mark.slow]

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)

RUNS = 200  # issue 4: "after 200 `run --rm` cycles"


def _fds(pid: int) -> list[str]:
    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
    return out


def _split(fds: list[str]) -> tuple[list[str], int]:
    """(fds, but the metadata database's) and the count of those: SQLite keeps one
    connection per thread (database + WAL), and asyncio's default thread pool grows
    on demand up to its fixed maximum, so these follow the thread count, not the runs."""
    other = sorted(f for f in fds if "/metadata.db" not in f)
    return other, len(fds) - len(other)


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _processes_under(root: str) -> list[int]:
    """Processes (shims, exec helpers) whose command line names our exec root."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if root.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _cgroups(parent: str) -> list[str]:
    out = []
    for found in _find_dirs("/sys/fs/cgroup", parent):
        out += [c for c in glob.glob(found + "/*/") if os.path.isdir(c)]
    return out


def _state(daemon) -> dict:
    from dockyard.network import bridge as br

    try:
        veths = sorted(br.bridge_ports(daemon.bridge))
    except Exception:
        veths = []
    run = str(daemon.d.exec_root)
    return {
        "mounts": sorted(_mounts_under(daemon.d.dir)),
        "cgroups": sorted(_cgroups(daemon.cgroup_parent)),
        "veths": veths,
        "netns": sorted(os.listdir(os.path.join(run, "netns")))
        if os.path.isdir(os.path.join(run, "netns")) else [],
        "shims": _shim_pids(daemon.d.exec_root),
        "procs": _processes_under(run),
        "containers": sorted(os.listdir(os.path.join(run, "containers"))),
    }


def _run_rm(daemon) -> None:
    cid = daemon.create(["true"], HostConfig={"AutoRemove": True})
    daemon.start(cid)
    r = daemon.request("POST", f"/v1.44/containers/{cid}/wait?condition=removed",
                       timeout=60)
    assert r.status in (200, 404), (r.status, r.body)  # 404: removed already


def test_many_run_rm_leave_nothing_behind():
    with container_daemon() as daemon:
        pid = daemon.d.process.pid
        for _ in range(2):  # warm up: lazily opened files (database, netlink) stay open
            _run_rm(daemon)
        time.sleep(0.3)
        fds_before = _fds(pid)
        state_before = _state(daemon)
        t0 = time.monotonic()
        for _ in range(RUNS):
            _run_rm(daemon)
        took = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while True:
            left = daemon.json("GET", "/v1.44/containers/json?all=1", status=200)
            time.sleep(0.2)  # the server closes its end of that connection
            fds_after = _fds(pid)
            state_after = _state(daemon)
            if (not left and _split(fds_after)[0] == _split(fds_before)[0]
                    and state_after == state_before) or time.monotonic() > deadline:
                break
        assert left == []
        assert state_after == state_before
        other_before, _ = _split(fds_before)
        other_after, db_after = _split(fds_after)
        assert other_after == other_before
        assert db_after <= 3 * _threads(pid)  # bounded by the threads, not the runs
        assert _threads(pid) <= 64
        assert took < 300, took

"""cgroups seen from outside (through /proc/<pid>/cgroup of the init) and their effects."""

from __future__ import annotations

import os

import pytest

import oci
from hostprobe import cgroup_dir, cgroup_mounts, proc_cgroups, wait_for

pytestmark = pytest.mark.root

MiB = 1 << 20


def read(path) -> str:
    return path.read_text().strip()


def test_cgroup_path_is_nested_and_named(runtime, bundle, config):
    cfg = config()
    name = cfg["linux"]["cgroupsPath"]
    cid = runtime.create(bundle(cfg))
    pid = runtime.state(cid)["pid"]
    cgroups = proc_cgroups(pid)
    for controller in ("memory", "pids", "cpu", "freezer", "devices"):
        assert cgroups[controller].endswith("/" + name), (controller, cgroups[controller])
        # a relative cgroupsPath lands under the caller's cgroup (runc's behaviour)
        own = proc_cgroups(os.getpid())[controller].rstrip("/")
        assert cgroups[controller] == f"{own}/{name}", controller
    runtime.delete(cid)


def test_absolute_cgroups_path(runtime, bundle, config, testctx):
    cfg = config()
    path = f"/dockyard-test-{testctx.slug}-abs/inner"
    cfg["linux"]["cgroupsPath"] = path
    cid = runtime.create(bundle(cfg))
    pid = runtime.state(cid)["pid"]
    assert proc_cgroups(pid)["pids"] == path
    assert proc_cgroups(pid)["memory"] == path
    runtime.delete(cid)
    # the runtime created the parent; it may keep it, but we do not
    for mnt in cgroup_mounts().values():
        for d in (mnt / path.lstrip("/"), mnt / path.lstrip("/").split("/")[0]):
            if d.is_dir():
                d.rmdir()


def test_limits_applied(runtime, bundle, config, testctx):
    cfg = config()
    cpus = sorted(os.sched_getaffinity(0))
    cfg["linux"]["resources"].update(
        {
            "memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swappiness": 10},
            "cpu": {
                "shares": 512,
                "quota": 20000,
                "period": 100000,
                "cpus": str(cpus[0]),
                "mems": "0",
            },
            "pids": {"limit": 42},
        }
    )
    st = os.stat(testctx.rootfs)
    throttle = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    cfg["linux"]["resources"]["blockIO"] = {
        "throttleReadBpsDevice": [
            {"major": os.major(st.st_dev), "minor": os.minor(st.st_dev), "rate": 10 * MiB}
        ]
    }
    cid = runtime.create(bundle(cfg))
    pid = runtime.state(cid)["pid"]
    mem = cgroup_dir(pid, "memory")
    assert int(read(mem / "memory.limit_in_bytes")) == 64 * MiB
    assert int(read(mem / "memory.soft_limit_in_bytes")) == 32 * MiB
    assert int(read(mem / "memory.swappiness")) == 10
    cpu = cgroup_dir(pid, "cpu")
    assert read(cpu / "cpu.shares") == "512"
    assert read(cpu / "cpu.cfs_quota_us") == "20000"
    assert read(cpu / "cpu.cfs_period_us") == "100000"
    cpuset = cgroup_dir(pid, "cpuset")
    assert read(cpuset / "cpuset.cpus") == str(cpus[0])
    assert read(cpuset / "cpuset.mems") == "0"
    assert read(cgroup_dir(pid, "pids") / "pids.max") == "42"
    blkio = cgroup_dir(pid, "blkio")
    assert f"{throttle} {10 * MiB}" in read(blkio / "blkio.throttle.read_bps_device")
    # the init is in every cgroup before it runs anything
    for controller in ("memory", "cpu", "cpuset", "pids", "blkio", "devices", "freezer"):
        procs = read(cgroup_dir(pid, controller) / "cgroup.procs").split()
        assert str(pid) in procs, controller
    runtime.delete(cid)


def test_device_rules_applied(runtime, bundle, config):
    cid = runtime.create(bundle(config()))
    pid = runtime.state(cid)["pid"]
    rules = read(cgroup_dir(pid, "devices") / "devices.list").splitlines()
    assert "a *:* rwm" not in rules
    for dev in ("c 1:3 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 1:8 rwm", "c 5:0 rwm"):
        assert dev in rules, rules
    runtime.delete(cid)


def test_memory_limit_oom_kills_a_hog(runtime, bundle, config):
    cfg = config()
    cfg["linux"]["resources"]["memory"] = {"limit": 32 * MiB, "swap": 32 * MiB}
    cid = runtime.create(bundle(oci.sh(cfg, "x=0123456789; while :; do x=$x$x; done")))
    pid = runtime.state(cid)["pid"]
    mem = cgroup_dir(pid, "memory")
    runtime.start(cid)
    runtime.wait_status(cid, "stopped", timeout=30)
    oom = dict(line.split() for line in read(mem / "memory.oom_control").splitlines())
    assert int(oom["oom_kill"]) >= 1
    assert int(read(mem / "memory.max_usage_in_bytes")) <= 32 * MiB
    runtime.delete(cid)


def test_memory_limit_run_exit_code(runtime, config):
    cfg = config()
    cfg["linux"]["resources"]["memory"] = {"limit": 32 * MiB, "swap": 32 * MiB}
    r = runtime.sh("x=0123456789; while :; do x=$x$x; done", cfg, timeout=60)
    assert r.returncode == 128 + 9, r.stderr


def test_pids_limit_stops_a_fork_bomb(runtime, config):
    """A bounded fork bomb: up to 60 sleepers against pids.max=20.

    ash gives up at the first failed fork, so the bomb runs in a subshell; the counting
    afterwards uses builtins only (no fork is possible once the limit is reached).
    """
    cfg = config()
    cfg["linux"]["resources"]["pids"] = {"limit": 20}
    script = (
        "(i=0; while [ $i -lt 60 ]; do sleep 1000 & i=$((i+1)); done) 2>/tmp/errors;"
        "n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n;"
        "read -r first < /tmp/errors; echo $first"
    )
    out = runtime.sh_ok(script, cfg, timeout=60).splitlines()
    assert 10 <= int(out[0]) <= 20
    assert "fork" in out[1] and "unavailable" in out[1], out[1]


def test_cpu_quota_throttles(runtime, bundle, config):
    cfg = config()
    cfg["linux"]["resources"]["cpu"] = {"quota": 10000, "period": 100000}
    script = "echo ready; while :; do :; done"
    cid = runtime.create(bundle(oci.sh(cfg, script)))
    pid = runtime.state(cid)["pid"]
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    stat = cgroup_dir(pid, "cpu") / "cpu.stat"

    def throttled() -> bool:
        return int(dict(x.split() for x in stat.read_text().splitlines())["nr_throttled"]) > 0

    wait_for(throttled, 5)
    runtime.delete(cid, force=True)

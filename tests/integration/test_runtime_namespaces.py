"""Namespaces: new ones differ from the host's, absent ones are shared, paths are joined."""

from __future__ import annotations

import os

import pytest

import oci
from hostprobe import status_field

pytestmark = pytest.mark.root

# /proc/<pid>/ns/<name> for each config type
NS_FILE = {
    "pid": "pid",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "network": "net",
    "cgroup": "cgroup",
    "user": "user",
    "time": "time",
}


def container_ns(runtime, cfg: dict, names) -> dict[str, str]:
    script = "".join(f"readlink /proc/self/ns/{n};" for n in names)
    return dict(zip(names, runtime.sh_ok(script, cfg).split(), strict=True))


def host_ns(name: str, pid: int | str = "self") -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def test_new_namespaces_differ_from_host(runtime, config):
    cfg = config()
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    names = ["pid", "mnt", "ipc", "uts", "net", "cgroup"]
    inside = container_ns(runtime, cfg, names)
    for n in names:
        assert inside[n] != host_ns(n), n


def test_unlisted_namespaces_are_the_hosts(runtime, config):
    cfg = config(hostname=None)
    for t in ("ipc", "uts", "network"):
        oci.drop_namespace(cfg, t)
    cfg["linux"]["sysctl"] = {}
    names = ["ipc", "uts", "net", "user", "cgroup", "pid"]
    inside = container_ns(runtime, cfg, names)
    for n in ["ipc", "uts", "net", "user", "cgroup"]:
        assert inside[n] == host_ns(n), n
    assert inside["pid"] != host_ns("pid")


def test_join_namespaces_by_path(runtime, testctx):
    first = runtime.create(testctx.bundle(oci.sh(testctx.config(), "true")))
    pid = runtime.state(first)["pid"]
    cfg = testctx.config()
    for t in ("network", "ipc", "uts"):
        oci.namespace(cfg, t)["path"] = f"/proc/{pid}/ns/{NS_FILE[t]}"
    cfg.pop("hostname")
    inside = container_ns(runtime, cfg, ["net", "ipc", "uts", "mnt"])
    for n in ("net", "ipc", "uts"):
        assert inside[n] == host_ns(n, pid), n
        assert inside[n] != host_ns(n), n
    assert inside["mnt"] != host_ns("mnt", pid)  # a new one, not the first container's
    runtime.delete(first)


def test_user_namespace_mappings(runtime, testctx):
    # the mapped root (host uid 100000) must be able to reach the bundle
    parent = testctx.short / "userns"
    parent.mkdir()
    os.chmod(testctx.short, 0o711)
    os.chmod(parent, 0o711)
    cfg = testctx.config()
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    script = "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; readlink /proc/self/ns/user"
    cfg = oci.sh(cfg, script + "; echo ready; read x < /tmp/go")
    b = testctx.bundle(cfg, parent=parent)
    (b / "rootfs/tmp").chmod(0o1777)
    os.mkfifo(b / "rootfs/tmp/go", 0o666)
    cid = runtime.create(b)
    runtime.start(cid)
    out = runtime.out[cid]
    assert out.readline().split() == ["0", "100000", "65536"]
    assert out.readline().split() == ["0", "200000", "65536"]
    assert out.readline() == "0"
    assert out.readline() == "0"
    assert out.readline() != host_ns("user")
    assert out.readline() == "ready"
    # seen from the host, the container's root is uid 100000 / gid 200000
    pid = runtime.state(cid)["pid"]
    assert status_field(pid, "Uid").split()[0] == "100000"
    assert status_field(pid, "Gid").split()[0] == "200000"
    with open(b / "rootfs/tmp/go", "w") as f:
        f.write("go\n")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_time_namespace_offsets(runtime, config):
    cfg = config()
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {
        "monotonic": {"secs": 86400 * 1000, "nanosecs": 0},
        "boottime": {"secs": 86400 * 1000, "nanosecs": 0},
    }
    r = runtime.sh("cut -d. -f1 /proc/uptime; readlink /proc/self/ns/time", cfg)
    if r.returncode != 0:
        runtime.skip_if_runc(f"1.1.5 has no time namespace: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    uptime, ns = r.stdout.split()
    assert int(uptime) >= 86400 * 1000
    assert ns != host_ns("time")


def test_pid_namespace_init_is_pid_1(runtime, config):
    out = runtime.sh_ok("echo $$; cat /proc/1/cmdline | tr '\\0' ' '", config())
    assert out.splitlines() == ["1", "sh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' ' "]


def test_cgroup_namespace_root(runtime, config):
    """With a cgroup ns, the container sees its own cgroup as the root."""
    cfg = config()
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    out = runtime.sh_ok("cat /proc/self/cgroup", cfg)
    for line in out.splitlines():
        assert line.split(":", 2)[2] == "/", line

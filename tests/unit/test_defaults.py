"""docker_default_spec against Docker's defaults (reference/runtime.md §3)."""

from __future__ import annotations

import json

import pytest

from dockyard.runtime import defaults
from dockyard.runtime.defaults import docker_default_spec
from dockyard.runtime.seccomp import default_profile, docker_to_oci

pytestmark = pytest.mark.unit

DOCKER_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
DOCKER_MOUNTS = [
    ("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
    ("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    ),
    ("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
    ("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", "nosuid", "noexec", "nodev"]),
    ("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
    ("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]),
]
DOCKER_MASKED = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
]
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


@pytest.fixture(autouse=True)
def hermetic_host(monkeypatch):
    """Pin the host facts the spec depends on: hybrid cgroups, no thermal_throttle dirs."""
    monkeypatch.setattr(defaults, "host_is_cgroup2", lambda: False)
    monkeypatch.setattr(defaults.glob, "glob", lambda pattern: [])


@pytest.fixture
def spec() -> dict:
    return docker_default_spec(["sh", "-c", "true"], hostname="0123456789ab", cgroupns=False)


def by_destination(spec: dict) -> dict[str, dict]:
    return {mount["destination"]: mount for mount in spec["mounts"]}


def test_top_level(spec):
    assert spec["ociVersion"] == "1.2.0"
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert spec["hostname"] == "0123456789ab"
    assert json.loads(json.dumps(spec)) == spec


def test_process(spec):
    process = spec["process"]
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["args"] == ["sh", "-c", "true"]
    assert process["cwd"] == "/"
    assert process["terminal"] is False
    assert process["noNewPrivileges"] is False
    assert process["env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=0123456789ab",
    ]


def test_terminal_adds_term():
    process = docker_default_spec(terminal=True)["process"]
    assert process["terminal"] is True
    assert process["env"][-1] == "TERM=xterm"
    assert "hostname" not in docker_default_spec()


def test_docker_capabilities_bounding_effective_permitted_only(spec):
    caps = spec["process"]["capabilities"]
    assert set(caps) == {"bounding", "effective", "permitted"}
    for kind in ("bounding", "effective", "permitted"):
        assert caps[kind] == DOCKER_CAPS


def test_mounts_are_dockers_table(spec):
    assert [
        (m["destination"], m["type"], m["source"], m["options"]) for m in spec["mounts"]
    ] == DOCKER_MOUNTS


def test_shm_size():
    shm = by_destination(docker_default_spec(shm_size=1 << 30))["/dev/shm"]
    assert shm["options"][-1] == "size=1073741824"
    with pytest.raises(ValueError, match="shm_size"):
        docker_default_spec(shm_size=0)


def test_readonly_rootfs_adds_ro_except_to_the_writable_mounts():
    spec = docker_default_spec(readonly_rootfs=True)
    assert spec["root"]["readonly"] is True
    mounts = by_destination(spec)
    for destination in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"):
        assert "ro" not in mounts[destination]["options"], destination
    for destination in ("/sys", "/sys/fs/cgroup"):
        assert mounts[destination]["options"].count("ro") == 1, destination


def test_masked_and_readonly_paths(spec):
    assert spec["linux"]["maskedPaths"] == DOCKER_MASKED
    assert spec["linux"]["readonlyPaths"] == DOCKER_READONLY


def test_thermal_throttle_dirs_that_exist_are_masked_in_cpu_order(monkeypatch):
    def throttle(cpu: int) -> str:
        return f"/sys/devices/system/cpu/cpu{cpu}/thermal_throttle"

    monkeypatch.setattr(defaults.glob, "glob", lambda pattern: [throttle(n) for n in (10, 2, 0)])
    masked = docker_default_spec()["linux"]["maskedPaths"]
    assert masked == [*DOCKER_MASKED, throttle(0), throttle(2), throttle(10)]


def test_namespaces_cgroup_only_on_cgroup2_hosts(spec, monkeypatch):
    assert [n["type"] for n in spec["linux"]["namespaces"]] == [
        "mount",
        "network",
        "uts",
        "pid",
        "ipc",
    ]
    assert all(set(n) == {"type"} for n in spec["linux"]["namespaces"])
    monkeypatch.setattr(defaults, "host_is_cgroup2", lambda: True)
    kinds = [n["type"] for n in docker_default_spec()["linux"]["namespaces"]]
    assert kinds[-1] == "cgroup"


def test_device_rules_deny_all_allow_defaults_deny_fuse(spec):
    rules = spec["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    allowed = [(r["type"], r["major"], r["minor"], r["access"]) for r in rules[1:-1]]
    assert allowed == [
        ("c", 1, 5, "rwm"),
        ("c", 1, 3, "rwm"),
        ("c", 1, 9, "rwm"),
        ("c", 1, 8, "rwm"),
        ("c", 5, 0, "rwm"),
        ("c", 5, 1, "rwm"),
    ]
    assert all(r["allow"] for r in rules[1:-1])
    assert rules[-1] == {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"}


def test_sysctls_for_a_private_netns(spec):
    assert spec["linux"]["sysctl"] == {
        "net.ipv4.ip_unprivileged_port_start": "0",
        "net.ipv4.ping_group_range": "0 2147483647",
    }


def test_seccomp_is_the_converted_default_profile(spec):
    seccomp = spec["linux"]["seccomp"]
    assert seccomp == docker_to_oci(default_profile(), DOCKER_CAPS)
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in seccomp["syscalls"]
    assert "seccomp" not in docker_default_spec(seccomp=False)["linux"]


def test_privileged():
    spec = docker_default_spec(privileged=True)
    caps = spec["process"]["capabilities"]
    assert len(caps["bounding"]) >= 38
    assert set(DOCKER_CAPS) < set(caps["bounding"])
    assert "CAP_SYS_ADMIN" in caps["bounding"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"]
    linux = spec["linux"]
    assert "maskedPaths" not in linux
    assert "readonlyPaths" not in linux
    assert "seccomp" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    mounts = by_destination(spec)
    assert "ro" not in mounts["/sys"]["options"]
    assert "ro" not in mounts["/sys/fs/cgroup"]["options"]
    # --privileged reopens /sys even on a read-only rootfs, as dockerd does.
    readonly = by_destination(docker_default_spec(privileged=True, readonly_rootfs=True))
    assert "ro" not in readonly["/sys"]["options"]


def test_privileged_caps_stop_at_the_kernels_last_cap(monkeypatch):
    monkeypatch.setattr(defaults, "all_capabilities", lambda: list(defaults.ALL_CAPABILITIES[:38]))
    bounding = docker_default_spec(privileged=True)["process"]["capabilities"]["bounding"]
    assert bounding[-1] == "CAP_AUDIT_READ"
    assert defaults.ALL_CAPABILITIES[21] == "CAP_SYS_ADMIN"
    assert len(defaults.ALL_CAPABILITIES) == 41

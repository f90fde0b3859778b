"""The config.json Docker writes for a plain ``docker run``.

moby's ``DefaultLinuxSpec`` plus what the daemon adds for a container with no
options (daemon/oci_linux.go): environment, /dev/shm size, sysctls, the cgroup
namespace on cgroup v2 hosts and the default seccomp profile. ``--privileged``,
``--read-only`` and ``--shm-size`` are folded in as Docker does. What depends on
an image or a daemon (cgroupsPath, /etc/hosts mounts, user from the image,
AppArmor) is left to the engine.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from .capabilities import CAPABILITIES, last_cap
from .seccomp import default_profile, docker_to_oci

OCI_VERSION = "1.2.0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

DEFAULT_CAPABILITIES = (
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
)

# Every capability, in kernel bit order; --privileged gets those up to cap_last_cap.
ALL_CAPABILITIES = tuple(f"CAP_{name}" for name in CAPABILITIES)

MASKED_PATHS = (
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
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# Mounts a read-only rootfs leaves writable: the container needs them to work at all.
_WRITABLE_WHEN_READONLY = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"}


def _device_rule(allow: bool, major: int, minor: int) -> dict[str, Any]:
    return {"allow": allow, "type": "c", "major": major, "minor": minor, "access": "rwm"}


DEVICE_RULES = (
    {"allow": False, "access": "rwm"},
    _device_rule(True, 1, 5),  # /dev/zero
    _device_rule(True, 1, 3),  # /dev/null
    _device_rule(True, 1, 9),  # /dev/urandom
    _device_rule(True, 1, 8),  # /dev/random
    _device_rule(True, 5, 0),  # /dev/tty
    _device_rule(True, 5, 1),  # /dev/console
    # fuse would let the container serve a filesystem to the host kernel.
    _device_rule(False, 10, 229),
)


def docker_default_spec(
    args: list[str] | None = None,
    *,
    terminal: bool = False,
    rootfs: str = "rootfs",
    hostname: str | None = None,
    shm_size: int = DEFAULT_SHM_SIZE,
    privileged: bool = False,
    readonly_rootfs: bool = False,
    seccomp: bool = True,
    cgroupns: bool | None = None,
) -> dict[str, Any]:
    """A complete OCI 1.2 config.json, as dockerd generates it for ``docker run``.

    ``cgroupns`` defaults to Docker's choice: a private cgroup namespace only on
    hosts with cgroup v2 alone.
    """
    if shm_size <= 0:
        raise ValueError(f"shm_size must be positive, not {shm_size}")
    caps = all_capabilities() if privileged else list(DEFAULT_CAPABILITIES)
    linux: dict[str, Any] = {
        "namespaces": _namespaces(host_is_cgroup2() if cgroupns is None else cgroupns),
        "resources": {"devices": _device_rules(privileged)},
        "sysctl": {
            # Docker lets containers ping and bind low ports in their own netns.
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647",
        },
    }
    if not privileged:
        linux["maskedPaths"] = masked_paths()
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if seccomp:
            linux["seccomp"] = docker_to_oci(default_profile(), caps)

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": _process(args, terminal, hostname, caps),
        "root": {"path": rootfs, "readonly": readonly_rootfs},
    }
    if hostname is not None:
        spec["hostname"] = hostname
    spec["mounts"] = _mounts(shm_size, privileged, readonly_rootfs)
    spec["linux"] = linux
    return spec


def all_capabilities() -> list[str]:
    """Every capability this kernel knows: what ``--privileged`` gets."""
    return list(ALL_CAPABILITIES[: last_cap() + 1])


def masked_paths() -> list[str]:
    # Per-CPU thermal_throttle leaks host activity (GHSA-6fw5-f8r9-fgfm); moby
    # masks those that exist.
    throttles = glob.glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle")
    throttles.sort(key=lambda path: int(re.findall(r"\d+", path)[0]))
    return [*MASKED_PATHS, *throttles]


def host_is_cgroup2() -> bool:
    """True on a unified (cgroup v2 only) host, where Docker gives containers a cgroupns."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _process(
    args: list[str] | None, terminal: bool, hostname: str | None, caps: list[str]
) -> dict[str, Any]:
    env = [f"PATH={DEFAULT_PATH}"]
    if hostname is not None:
        env.append(f"HOSTNAME={hostname}")
    if terminal:
        env.append("TERM=xterm")
    return {
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": list(args) if args is not None else ["sh"],
        "env": env,
        "cwd": "/",
        "capabilities": {
            "bounding": list(caps),
            "effective": list(caps),
            "permitted": list(caps),
        },
        "noNewPrivileges": False,
        "oomScoreAdj": 0,
    }


def _mounts(shm_size: int, privileged: bool, readonly_rootfs: bool) -> list[dict[str, Any]]:
    mounts = [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", "nosuid", "noexec", "nodev"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"],
        ),
    ]
    # Same order as dockerd: --read-only first, then --privileged reopens /sys and cgroups.
    for mount in mounts:
        destination, options = mount["destination"], mount["options"]
        if readonly_rootfs and destination not in _WRITABLE_WHEN_READONLY and "ro" not in options:
            options.append("ro")
        if privileged and destination in ("/sys", "/sys/fs/cgroup"):
            mount["options"] = [option for option in options if option != "ro"]
    return mounts


def _mount(destination: str, fstype: str, source: str, options: list[str]) -> dict[str, Any]:
    return {"destination": destination, "type": fstype, "source": source, "options": options}


def _namespaces(cgroupns: bool) -> list[dict[str, str]]:
    kinds = ["mount", "network", "uts", "pid", "ipc"]
    if cgroupns:
        kinds.append("cgroup")
    return [{"type": kind} for kind in kinds]


def _device_rules(privileged: bool) -> list[dict[str, Any]]:
    if privileged:
        return [{"allow": True, "access": "rwm"}]
    return [dict(rule) for rule in DEVICE_RULES]

"""A minimal OCI runtime-spec 1.2 ``config.json`` generator for tests, and small helpers.

Tests take :func:`minimal_config`, tweak the dict and hand it to the ``bundle`` fixture.
Nothing here depends on runc (``runc spec``) or on dockyard itself.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import secrets
from pathlib import Path

OCI_VERSION = "1.2.0"

# Docker's default capability set (moby daemon/pkg/oci/caps/defaults.go)
DEFAULT_CAPS = [
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

# capability numbers (linux/capability.h), for decoding CapXxx masks in /proc/<pid>/status
CAP_NUMBERS = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# Docker's defaults (moby daemon/pkg/oci/defaults.go)
MASKED_PATHS = [
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
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

DEFAULT_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]


def mask(caps: list[str]) -> int:
    """Bit mask of capability names, as in ``CapEff:`` of /proc/<pid>/status."""
    return sum(1 << CAP_NUMBERS[c] for c in caps)


def cap_names(value: int | str) -> set[str]:
    """Names of the bits set in a capability mask (int or the hex text of /proc/.../status)."""
    if isinstance(value, str):
        value = int(value, 16)
    return {name for name, bit in CAP_NUMBERS.items() if value >> bit & 1}


def default_mounts() -> list[dict]:
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]


def minimal_config(
    args: list[str] | tuple[str, ...] = ("sh",),
    *,
    cgroups_path: str | None = None,
    env: list[str] | None = None,
    cwd: str = "/",
    terminal: bool = False,
    hostname: str | None = "dockyard",
    caps: list[str] | None = None,
) -> dict:
    """A minimal valid OCI 1.2 config for the busybox rootfs.

    New pid/mount/ipc/uts/network namespaces, Docker's mounts, capabilities, masked and
    read-only paths, a deny-all device cgroup (the runtime adds its defaults) and a unique
    relative cgroupsPath (with ``dockyard-test`` in the name).
    """
    caps = list(DEFAULT_CAPS if caps is None else caps)
    config = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": list(DEFAULT_ENV if env is None else env),
            "cwd": cwd,
            "capabilities": {
                "bounding": list(caps),
                "effective": list(caps),
                "permitted": list(caps),
            },
            "noNewPrivileges": False,
        },
        "root": {"path": "rootfs", "readonly": False},
        "mounts": default_mounts(),
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")],
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": cgroups_path or f"dockyard-test-{secrets.token_hex(4)}",
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if hostname is not None:
        config["hostname"] = hostname
    return config


def set_args(config: dict, *args: str) -> dict:
    config["process"]["args"] = list(args)
    return config


def sh(config: dict, script: str) -> dict:
    """Make the container run ``sh -c script``."""
    return set_args(config, "sh", "-c", script)


def namespace(config: dict, ns_type: str) -> dict | None:
    for ns in config["linux"]["namespaces"]:
        if ns["type"] == ns_type:
            return ns
    return None


def drop_namespace(config: dict, ns_type: str) -> dict:
    config["linux"]["namespaces"] = [
        n for n in config["linux"]["namespaces"] if n["type"] != ns_type
    ]
    return config


# --- Docker's default seccomp profile, converted to OCI linux.seccomp --------------------

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}


def moby_profile_path() -> Path | None:
    """Where ``moby-seccomp-default.json`` is: $DOCKYARD_MOBY_SECCOMP or ../shared/specs."""
    candidates = [os.environ.get("DOCKYARD_MOBY_SECCOMP", "")]
    here = Path(__file__).resolve()
    candidates += [str(p / "shared/specs/moby-seccomp-default.json") for p in here.parents]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def _kernel_at_least(want: str) -> bool:
    have = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    return have >= tuple(int(x) for x in want.split(".")[:2])


def docker_seccomp(caps: list[str] | None = None, profile: dict | Path | None = None) -> dict:
    """Docker's default profile as OCI ``linux.seccomp`` for ``caps`` on this machine.

    Mirrors moby's ``setupSeccomp``: keep a rule group when all its ``includes.caps``
    are held, its ``includes.arches`` has this arch, the kernel is at least
    ``includes.minKernel``, and none of its ``excludes`` match.
    """
    caps = set(DEFAULT_CAPS if caps is None else caps)
    if profile is None:
        profile = moby_profile_path()
        if profile is None:
            raise FileNotFoundError("moby-seccomp-default.json not found")
    if isinstance(profile, Path):
        profile = json.loads(profile.read_text())
    machine = platform.machine()
    goarch = _GOARCH.get(machine, machine)
    arches: list[str] = []
    for entry in profile.get("archMap", []):
        if entry["architecture"].lower() == f"scmp_arch_{machine}".lower():
            arches = [entry["architecture"], *entry.get("subArchitectures", [])]
    syscalls = []
    for rule in profile["syscalls"]:
        inc, exc = rule.get("includes", {}), rule.get("excludes", {})
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        if exc.get("caps") and set(exc["caps"]) & caps:
            continue
        if exc.get("arches") and goarch in exc["arches"]:
            continue
        out = {"names": list(rule["names"]), "action": rule["action"]}
        for key in ("errnoRet", "args"):
            if key in rule:
                out[key] = copy.deepcopy(rule[key])
        syscalls.append(out)
    seccomp = {
        "defaultAction": profile["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    }
    if "defaultErrnoRet" in profile:
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return seccomp

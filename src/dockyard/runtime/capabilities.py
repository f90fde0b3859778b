"""Linux capabilities: names, and applying the five OCI sets in runc's order."""

from __future__ import annotations

from collections.abc import Iterable

from .config import Capabilities
from .linux import constants as c
from .linux.syscalls import Syscalls

CAPABILITIES: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
            "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
            "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
            "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
            "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
            "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
            "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
        )
    )
}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as file:
            return int(file.read())
    except OSError:
        return max(CAPABILITIES.values())


def cap_number(name: str) -> int | None:
    """`CAP_SYS_ADMIN`, `SYS_ADMIN` and `sys_admin` all name capability 21."""
    key = name.upper()
    key = key[4:] if key.startswith("CAP_") else key
    return CAPABILITIES.get(key)


def to_mask(names: Iterable[str], highest: int) -> int:
    """Bitmask of the named caps; unknown or unsupported ones are skipped, as the spec
    asks (a config written for a newer kernel still runs). `unsupported` names them,
    for the warning the parent prints: the init cannot log after pivot_root."""
    mask = 0
    for name in names:
        number = cap_number(name)
        if number is not None and number <= highest:
            mask |= 1 << number
    return mask


def unsupported(caps: Capabilities, highest: int) -> list[str]:
    names = [*caps.bounding, *caps.effective, *caps.inheritable, *caps.permitted, *caps.ambient]
    return sorted({n for n in names if _number_or(n, highest + 1) > highest})


def _number_or(name: str, default: int) -> int:
    number = cap_number(name)
    return default if number is None else number


def mask_to_names(mask: int) -> list[str]:
    return [f"CAP_{name}" for name, number in CAPABILITIES.items() if mask >> number & 1]


def drop_bounding(sys: Syscalls, keep: int, highest: int) -> None:
    for number in range(highest + 1):
        if not keep >> number & 1:
            sys.prctl(c.PR_CAPBSET_DROP, number)


def apply_sets(sys: Syscalls, caps: Capabilities, highest: int) -> None:
    """capset the effective, permitted and inheritable sets, then raise the ambient ones.

    Called after setresuid with keepcaps, so that a non-root user keeps its caps.
    """
    sys.capset(
        to_mask(caps.effective, highest),
        to_mask(caps.permitted, highest),
        to_mask(caps.inheritable, highest),
    )
    sys.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL)
    ambient = to_mask(caps.ambient, highest)
    for number in range(highest + 1):
        if ambient >> number & 1:
            sys.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, number)

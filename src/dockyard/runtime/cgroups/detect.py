"""Which cgroup hierarchies the host has, from /proc/self/mountinfo and /proc/self/cgroup.

Pure parsing: the callers read the files (and the v2 ``cgroup.controllers``) themselves.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import CgroupError

# The v1 subsystems we join; anything else on a cgroup mount is an option or a named hierarchy.
V1_CONTROLLERS = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    }
)
SYSTEMD = "name=systemd"
UNIFIED = ""  # the key of the cgroup2 hierarchy, as in runc's state.json cgroup_paths

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class Mode:
    """The three layouts (plain strings: no enum on the CLI's start-up path)."""

    LEGACY = "legacy"  # v1 only
    HYBRID = "hybrid"  # v1 controllers plus a cgroup2 mount with (at most) the rest
    UNIFIED = "unified"  # cgroup2 only


class Mount(NamedTuple):
    """One mounted hierarchy: where it is, and which cgroup its mount point shows."""

    mount_point: str
    root: str  # the cgroup path (as in /proc/self/cgroup) that the mount point shows


class CgroupLayout(NamedTuple):
    mode: str  # a Mode
    v1: dict[str, Mount]  # controller (or "name=systemd") -> mount; co-mounted ones share one
    unified: Mount | None
    unified_controllers: frozenset[str] = frozenset()

    def hierarchies(self) -> dict[str, Mount]:
        """Every hierarchy a container joins, keyed like paths(): controller, '' for cgroup2."""
        found = dict(self.v1)
        if self.unified is not None:
            found[UNIFIED] = self.unified
        return found


def _unescape(path: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), path)


def detect_layout(mountinfo: str) -> CgroupLayout:
    """The layout described by ``/proc/self/mountinfo`` text (without v2 controllers)."""
    v1: dict[str, Mount] = {}
    unified: Mount | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        tail = right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, super_options = tail[0], tail[2]
        mount = Mount(mount_point=_unescape(fields[4]), root=_unescape(fields[3]))
        if fstype == "cgroup2":
            unified = unified or mount  # the first mount wins, as for v1 below
        elif fstype == "cgroup":
            for option in super_options.split(","):
                if option in V1_CONTROLLERS or option == SYSTEMD:
                    v1.setdefault(option, mount)
    has_v1_controllers = any(name != SYSTEMD for name in v1)
    if has_v1_controllers:
        mode = Mode.HYBRID if unified is not None else Mode.LEGACY
    elif unified is not None:
        mode = Mode.UNIFIED
        v1 = {}  # a lone name=systemd v1 mount next to cgroup2 holds no controllers
    else:
        raise CgroupError("cgroups: no cgroup or cgroup2 filesystem is mounted")
    return CgroupLayout(mode=mode, v1=v1, unified=unified)


def current_cgroups(proc_self_cgroup: str) -> dict[str, str]:
    """Parse ``/proc/<pid>/cgroup``: controller (or "name=systemd", '' for cgroup2) -> path."""
    found: dict[str, str] = {}
    for line in proc_self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            found[UNIFIED] = path
            continue
        for name in controllers.split(","):
            found[name] = path
    return found

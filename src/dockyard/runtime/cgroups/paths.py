"""Where a container's cgroup lives in each hierarchy, from ``linux.cgroupsPath`` (pure).

As runc's cgroupfs driver: an absolute cgroupsPath is taken from the root of every hierarchy;
a relative one is nested under the caller's own cgroup, which can differ per controller (the
test VM puts us in a non-root memory cgroup but the root cpu cgroup).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from .detect import CgroupLayout, Mount
from .errors import CgroupError

DEFAULT_PARENT = "dockyard"
_SYSTEMD_FORM = re.compile(r"^[^/:]*:[^/:]*:[^/:]+$")


def default_cgroups_path(container_id: str, parent: str = DEFAULT_PARENT) -> str:
    """The cgroupsPath used when config.json has none: ``dockyard/<id>`` under the caller."""
    return f"{parent}/{container_id}"


def clean_cgroups_path(cgroups_path: str) -> str:
    """Normalise a cgroupsPath; a relative one cannot climb out with '..'."""
    if _SYSTEMD_FORM.match(cgroups_path):
        raise CgroupError(
            f"linux.cgroupsPath: {cgroups_path!r} is the systemd driver's slice:prefix:name "
            "form, which dockyard does not support"
        )
    cleaned = posixpath.normpath("/" + cgroups_path.lstrip("/"))
    if cleaned == "/":
        raise CgroupError(f"linux.cgroupsPath: {cgroups_path!r} names no cgroup")
    return cleaned if cgroups_path.startswith("/") else cleaned.lstrip("/")


def resolve_paths(
    layout: CgroupLayout, cgroups_path: str, caller: Mapping[str, str]
) -> dict[str, str]:
    """Absolute directory per hierarchy (controller, 'name=systemd', '' for cgroup2).

    ``caller`` is ``current_cgroups()`` of the process whose cgroup a relative path nests in.
    """
    inner = clean_cgroups_path(cgroups_path)
    resolved = {}
    for key, mount in layout.hierarchies().items():
        if inner.startswith("/"):
            resolved[key] = posixpath.join(mount.mount_point, inner.lstrip("/"))
            continue
        if key not in caller:
            name = key or "cgroup2"
            raise CgroupError(f"cgroups: the caller's {name} cgroup is not in /proc/self/cgroup")
        resolved[key] = posixpath.join(_own_dir(mount, caller[key], key), inner)
    return resolved


def _own_dir(mount: Mount, own: str, key: str) -> str:
    """The caller's cgroup as a directory under the mount (which may show a subtree)."""
    relative = posixpath.relpath(own, mount.root)
    if relative == ".." or relative.startswith("../"):
        raise CgroupError(
            f"cgroups: the caller's {key or 'cgroup2'} cgroup {own} is outside the mount of "
            f"{mount.root} at {mount.mount_point}"
        )
    return posixpath.normpath(posixpath.join(mount.mount_point, relative))

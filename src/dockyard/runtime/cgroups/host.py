"""Open the manager for a container on this host: read the layout, resolve the paths."""

from __future__ import annotations

import os

from .detect import CgroupLayout, Mount, current_cgroups, detect_layout
from .fsio import read_text, read_words
from .manager import CgroupManager
from .paths import default_cgroups_path, resolve_paths

CGROUP_ROOT = "/sys/fs/cgroup"


def read_layout(
    root: str | os.PathLike[str] = CGROUP_ROOT, mountinfo: str | None = None
) -> CgroupLayout:
    """This host's layout, with the cgroup2 controllers, mount points moved under ``root``.

    A ``root`` other than /sys/fs/cgroup lets tests run against a fake tree: mount points
    under /sys/fs/cgroup in the mountinfo are read as being under ``root``.
    """
    if mountinfo is None:
        mountinfo = read_text("/proc/self/mountinfo") or ""
    layout = detect_layout(mountinfo)
    root = os.fspath(root)
    v1 = {name: _rebase(mount, root) for name, mount in layout.v1.items()}
    unified = _rebase(layout.unified, root) if layout.unified else None
    controllers: frozenset[str] = frozenset()
    if unified is not None:
        controllers = frozenset(read_words(os.path.join(unified.mount_point, "cgroup.controllers")))
    return CgroupLayout(layout.mode, v1, unified, controllers)


def open_manager(
    cgroups_path: str,
    container_id: str,
    root: str | os.PathLike[str] = CGROUP_ROOT,
    mountinfo: str | None = None,
    self_cgroup: str | None = None,
) -> CgroupManager:
    """The manager of ``linux.cgroupsPath`` (empty: ``dockyard/<id>`` under our cgroup).

    Nothing is created until ``create()``.
    """
    layout = read_layout(root, mountinfo)
    if self_cgroup is None:
        self_cgroup = read_text("/proc/self/cgroup") or ""
    path = cgroups_path or default_cgroups_path(container_id)
    return CgroupManager.from_paths(resolve_paths(layout, path, current_cgroups(self_cgroup)))


def _rebase(mount: Mount, root: str) -> Mount:
    point = mount.mount_point
    if root == CGROUP_ROOT or not (point + "/").startswith(CGROUP_ROOT + "/"):
        return mount
    return Mount(
        os.path.normpath(os.path.join(root, os.path.relpath(point, CGROUP_ROOT))), mount.root
    )

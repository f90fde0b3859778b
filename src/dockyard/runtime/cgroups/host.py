"""Open the manager for a container on this host: read the layout, resolve the paths."""

from __future__ import annotations

from pathlib import Path

from .detect import CgroupLayout, Mount, current_cgroups, detect_layout
from .manager import CgroupManager
from .paths import default_cgroups_path, resolve_paths

CGROUP_ROOT = Path("/sys/fs/cgroup")


def read_layout(root: Path = CGROUP_ROOT, mountinfo: str | None = None) -> CgroupLayout:
    """This host's layout, with the cgroup2 controllers, mount points moved under ``root``.

    A ``root`` other than /sys/fs/cgroup lets tests run against a fake tree: mount points
    under /sys/fs/cgroup in the mountinfo are read as being under ``root``.
    """
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    layout = detect_layout(mountinfo)
    v1 = {name: _rebase(mount, root) for name, mount in layout.v1.items()}
    unified = _rebase(layout.unified, root) if layout.unified else None
    controllers: frozenset[str] = frozenset()
    if unified is not None:
        try:
            text = (Path(unified.mount_point) / "cgroup.controllers").read_text()
        except FileNotFoundError:
            text = ""
        controllers = frozenset(text.split())
    return CgroupLayout(layout.mode, v1, unified, controllers)


def open_manager(
    cgroups_path: str,
    container_id: str,
    root: Path = CGROUP_ROOT,
    mountinfo: str | None = None,
    self_cgroup: str | None = None,
) -> CgroupManager:
    """The manager of ``linux.cgroupsPath`` (empty: ``dockyard/<id>`` under our cgroup).

    Nothing is created until ``create()``.
    """
    layout = read_layout(root, mountinfo)
    if self_cgroup is None:
        self_cgroup = Path("/proc/self/cgroup").read_text()
    path = cgroups_path or default_cgroups_path(container_id)
    return CgroupManager.from_paths(resolve_paths(layout, path, current_cgroups(self_cgroup)))


def _rebase(mount: Mount, root: Path) -> Mount:
    point = Path(mount.mount_point)
    if root == CGROUP_ROOT or not point.is_relative_to(CGROUP_ROOT):
        return mount
    return Mount(str(root / point.relative_to(CGROUP_ROOT)), mount.root)

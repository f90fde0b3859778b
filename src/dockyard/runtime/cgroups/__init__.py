"""The cgroup library of the OCI runtime: cgroup v1, v2 and hybrid hosts behind one manager.

Theory of operation: ``detect`` reads the host's layout from mountinfo, ``paths`` places a
container's cgroup in each hierarchy, the planners (``v1``, ``v2``, routed by ``plan``) turn
an OCI ``linux.resources`` into an ordered list of file writes without touching the system,
and ``CgroupManager`` carries them out and does the rest (join, freeze, kill, stats, remove).

The names below are loaded on first use: ``from .cgroups.manager import CgroupManager`` in a
short-lived CLI call must not pay for the planners.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .detect import CgroupLayout, Mode, current_cgroups, detect_layout
    from .errors import CgroupError
    from .host import open_manager, read_layout
    from .manager import CgroupManager
    from .paths import DEFAULT_PARENT, default_cgroups_path, resolve_paths
    from .plan import plan_for_host
    from .v1 import plan_v1
    from .v2 import plan_v2
    from .writes import Plan, Write

_HOMES = {
    "CgroupLayout": "detect",
    "Mode": "detect",
    "current_cgroups": "detect",
    "detect_layout": "detect",
    "CgroupError": "errors",
    "open_manager": "host",
    "read_layout": "host",
    "CgroupManager": "manager",
    "DEFAULT_PARENT": "paths",
    "default_cgroups_path": "paths",
    "resolve_paths": "paths",
    "plan_for_host": "plan",
    "plan_v1": "v1",
    "plan_v2": "v2",
    "Plan": "writes",
    "Write": "writes",
}
__all__ = [
    "DEFAULT_PARENT",
    "CgroupError",
    "CgroupLayout",
    "CgroupManager",
    "Mode",
    "Plan",
    "Write",
    "current_cgroups",
    "default_cgroups_path",
    "detect_layout",
    "open_manager",
    "plan_for_host",
    "plan_v1",
    "plan_v2",
    "read_layout",
    "resolve_paths",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value

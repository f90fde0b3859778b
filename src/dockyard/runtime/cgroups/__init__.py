"""The cgroup library of the OCI runtime: cgroup v1, v2 and hybrid hosts behind one manager.

Theory of operation: ``detect`` reads the host's layout from mountinfo, ``paths`` places a
container's cgroup in each hierarchy, the planners (``v1``, ``v2``, routed by ``plan``) turn
an OCI ``linux.resources`` into an ordered list of file writes without touching the system,
and ``CgroupManager`` carries them out and does the rest (join, freeze, kill, stats, remove).
"""

from .detect import CgroupLayout, Mode, current_cgroups, detect_layout
from .errors import CgroupError
from .host import open_manager, read_layout
from .manager import CgroupManager
from .paths import DEFAULT_PARENT, default_cgroups_path, resolve_paths
from .plan import plan_for_host
from .v1 import plan_v1
from .v2 import plan_v2
from .writes import Plan, Write

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

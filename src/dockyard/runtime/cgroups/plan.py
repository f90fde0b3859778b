"""Route each resource to the hierarchy that has its controller: v1, cgroup2, or neither.

On a legacy host everything is v1; on a unified host everything is v2; on a hybrid host each
v1 controller that is mounted gets the v1 files, the others go to cgroup2 when it has the
controller (the test VM's hugetlb), and a value set for a controller that neither has is an
error naming the field, as runc's "cannot set hugetlb limit" is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .errors import CgroupError
from .v1 import ORDER as V1_ORDER
from .v1 import plan_v1
from .v2 import plan_v2
from .writes import Plan

# the cgroup2 controller that takes over each v1 controller's settings
V2_EQUIVALENT = {
    "cpuset": "cpuset",
    "devices": "devices",
    "memory": "memory",
    "cpu": "cpu",
    "pids": "pids",
    "blkio": "io",
    "hugetlb": "hugetlb",
    "rdma": "rdma",
}
# v2 "controllers" that are not in cgroup.controllers: always there
_V2_BUILTIN = frozenset({"", "devices"})


def plan_for_host(
    resources: Mapping[str, Any] | None,
    *,
    v1_controllers: Collection[str],
    unified_controllers: Collection[str] | None,
    current_memory_limit: int | None = None,
) -> Plan:
    """All writes for ``resources`` on a host with these v1 controllers mounted and (unless
    None) a cgroup2 hierarchy offering ``unified_controllers``."""
    resources = dict(resources or {})
    unified = resources.pop("unified", None)
    if not v1_controllers:
        if unified_controllers is None:
            raise CgroupError("cgroups: this host has no cgroup hierarchy")
        plan = plan_v2({**resources, "unified": unified})
        _check_available(plan, unified_controllers)
        return plan

    on_v1, on_v2, missing = [], [], []
    for name in V1_ORDER:
        if name in v1_controllers:
            on_v1.append(name)
        elif unified_controllers is not None and (
            V2_EQUIVALENT.get(name) in _V2_BUILTIN.union(unified_controllers)
        ):
            on_v2.append(V2_EQUIVALENT[name])
        else:
            missing.append(name)
    plan = plan_v1(resources, controllers=on_v1, current_memory_limit=current_memory_limit)
    for name in missing:
        probe = plan_v1(resources, controllers=[name])
        if probe.writes:
            raise CgroupError(
                f"{probe.writes[0].field}: the {name} cgroup controller is not available "
                "on this host"
            )
    if on_v2 or unified:
        if unified and unified_controllers is None:
            raise CgroupError("linux.resources.unified: needs cgroup v2, this host has only v1")
        v2_plan = plan_v2({**resources, "unified": unified}, controllers=[*on_v2, "unified"])
        _check_available(v2_plan, unified_controllers or ())
        plan.extend(v2_plan)
    return plan


def _check_available(plan: Plan, controllers: Collection[str]) -> None:
    for write in plan.writes:
        if write.controller not in _V2_BUILTIN and write.controller not in controllers:
            raise CgroupError(
                f"{write.field}: the {write.controller} controller is not available in "
                "cgroup v2 on this host"
            )

"""cgroup v2 planner: OCI ``linux.resources`` -> writes to cgroup2 files (pure)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Collection, Mapping
from typing import Any

from . import values
from .convert import blkio_weight_to_io_weight, shares_to_weight, swap_to_v2
from .errors import CgroupError
from .fields import Fields
from .writes import Plan, Write

# runc's fs2 order; `unified` comes last so that its raw keys override the typed fields
ORDER = ("pids", "memory", "io", "cpu", "devices", "cpuset", "hugetlb", "rdma", "unified")
_IO_MAX_KEYS = {
    "throttleReadBpsDevice": "rbps",
    "throttleWriteBpsDevice": "wbps",
    "throttleReadIOPSDevice": "riops",
    "throttleWriteIOPSDevice": "wiops",
}
_EINVAL = frozenset({errno.EINVAL})
_ENOENT = frozenset({errno.ENOENT})
DEVICES_NEED_EBPF = (
    "linux.resources.devices: device rules need an eBPF program on cgroup v2, "
    "which dockyard does not load yet; the rules are not enforced"
)


def plan_v2(
    resources: Mapping[str, Any] | None, *, controllers: Collection[str] | None = None
) -> Plan:
    """The cgroup2 writes for ``resources``, limited to ``controllers`` (names in ORDER)."""
    r = Fields(resources, "linux.resources")
    planner = _Planner(r)
    for name in ORDER:
        if controllers is None or name in controllers:
            planner.controllers[name]()
    if controllers is None:
        planner.v1_only()
    return planner.plan


def unified_controller(key: str, field: str) -> str:
    """The controller a `unified` key belongs to: 'memory' for memory.high, '' for cgroup.*."""
    if not key or "/" in key or key in (".", ".."):
        raise CgroupError(f"{field}: must be a file name (no slashes)")
    controller, dot, _ = key.partition(".")
    if not dot or not controller:
        raise CgroupError(f"{field}: must be in the form CONTROLLER.PARAMETER")
    return "" if controller == "cgroup" else controller


class _Planner:
    def __init__(self, r: Fields) -> None:
        self.r = r
        self.plan = Plan()
        self.controllers: dict[str, Callable[[], None]] = {
            "pids": self.pids,
            "memory": self.memory,
            "io": self.io,
            "cpu": self.cpu,
            "devices": self.devices,
            "cpuset": self.cpuset,
            "hugetlb": self.hugetlb,
            "rdma": self.rdma,
            "unified": self.unified,
        }

    def add(self, controller: str, file: str, value: object, field: str, **kw: Any) -> None:
        self.plan.add(Write(controller, file, str(value), field, unified=True, **kw))

    def pids(self) -> None:
        limit = values.pids_limit(self.r)
        if limit is not None:
            self.add("pids", "pids.max", limit, "linux.resources.pids.limit")

    def memory(self) -> None:
        m, warnings = values.memory(self.r)
        self.plan.warnings.extend(warnings)
        field = "linux.resources.memory"
        swap = swap_to_v2(m.swap, m.limit, f"{field}.swap")
        if swap or m.swap > 0:
            # a swap equal to the limit means "no swap" (0); without swap accounting the
            # kernel has no memory.swap.max, which only matters for a real limit
            tolerate = _ENOENT if swap in (-1, 0) else frozenset[int]()
            self.add("memory", "memory.swap.max", _max(swap), f"{field}.swap", tolerate=tolerate)
        if m.limit:
            self.add("memory", "memory.max", _max(m.limit), f"{field}.limit")
        if m.reservation:
            self.add("memory", "memory.low", _max(m.reservation), f"{field}.reservation")
        if m.swappiness is not None:
            self.plan.warn(f"{field}.swappiness: not supported on cgroup v2; ignored")
        if m.disable_oom_killer:
            self.plan.warn(f"{field}.disableOOMKiller: not supported on cgroup v2; ignored")
        if m.check_before_update and m.limit > 0:
            self.plan.check_memory_limit = m.limit

    def io(self) -> None:
        b = values.block_io(self.r)
        field = "linux.resources.blockIO"
        if b.weight:
            # BFQ takes the blkio scale as is; the generic io.weight needs converting
            converted = Write(
                "io",
                "io.weight",
                str(blkio_weight_to_io_weight(b.weight)),
                f"{field}.weight",
                unified=True,
            )
            self.add("io", "io.bfq.weight", b.weight, f"{field}.weight", fallback=converted)
        if b.leaf_weight:
            self.plan.warn(f"{field}.leafWeight: not supported on cgroup v2; ignored")
        for d in b.weight_devices:
            if d.weight:
                converted = Write(
                    "io",
                    "io.weight",
                    f"{d.device} {blkio_weight_to_io_weight(d.weight)}",
                    d.field,
                    unified=True,
                )
                self.add(
                    "io", "io.bfq.weight", f"{d.device} {d.weight}", d.field, fallback=converted
                )
            if d.leaf_weight:
                self.plan.warn(f"{d.field}.leafWeight: not supported on cgroup v2; ignored")
        for t in b.throttles:
            self.add("io", "io.max", f"{t.device} {_IO_MAX_KEYS[t.kind]}={t.rate}", t.field)

    def cpu(self) -> None:
        c = values.cpu(self.r)
        field = "linux.resources.cpu"
        if c.idle is not None:
            self.add("cpu", "cpu.idle", c.idle, f"{field}.idle")
        if c.shares:
            self.add("cpu", "cpu.weight", shares_to_weight(c.shares), f"{field}.shares")
        # the burst may be refused (EINVAL) against the old quota: written again after cpu.max
        if c.burst is not None:
            retry = _EINVAL if c.quota else frozenset[int]()
            self.add("cpu", "cpu.max.burst", c.burst, f"{field}.burst", tolerate=retry)
        if c.quota or c.period:
            quota = "max" if c.quota <= 0 else str(c.quota)
            # cpu.max always takes both; 100000us is the kernel's default period
            self.add("cpu", "cpu.max", f"{quota} {c.period or 100000}", f"{field}.quota")
            if c.burst is not None and c.quota:
                self.add("cpu", "cpu.max.burst", c.burst, f"{field}.burst")
        for key, value in (
            ("realtimeRuntime", c.realtime_runtime),
            ("realtimePeriod", c.realtime_period),
        ):
            if value:
                raise CgroupError(f"{field}.{key}: realtime limits are not supported on cgroup v2")

    def devices(self) -> None:
        if values.device_rules(self.r) is not None:
            self.plan.devices_unenforced = True
            self.plan.warn(DEVICES_NEED_EBPF)

    def cpuset(self) -> None:
        for key in ("cpus", "mems"):
            value = values.cpu_list(self.r, key)
            if value is not None:
                self.add("cpuset", f"cpuset.{key}", value, f"linux.resources.cpu.{key}")

    def hugetlb(self) -> None:
        for field, size, limit in values.hugepages(self.r):
            self.add("hugetlb", f"hugetlb.{size}.max", limit, field)
            self.add("hugetlb", f"hugetlb.{size}.rsvd.max", limit, field, tolerate=_ENOENT)

    def rdma(self) -> None:
        for field, line in values.rdma(self.r):
            self.add("rdma", "rdma.max", line, field)

    def unified(self) -> None:
        for key, value in self.r.mapping("unified").items():
            field = f"linux.resources.unified.{key}"
            controller = unified_controller(key, field)
            if not isinstance(value, str):
                raise CgroupError(f"{field}: must be a string")
            # multi-line values (io.max for several devices) are one write per line
            for line in value.splitlines() or [""]:
                self.add(controller, key, line, field)

    def v1_only(self) -> None:
        """Fields with no cgroup v2 equivalent: an error when set, as they cannot be honoured."""
        network = self.r.sub("network")
        if network.integer("classID", minimum=0) is not None or values.net_priorities(self.r):
            raise CgroupError(f"{network.name}: net_cls and net_prio do not exist on cgroup v2")


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)

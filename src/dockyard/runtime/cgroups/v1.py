"""cgroup v1 planner: OCI ``linux.resources`` -> writes to v1 controller files (pure)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Collection, Mapping
from typing import Any

from . import values
from .errors import CgroupError
from .fields import Fields
from .writes import Plan, Write

# runc's subsystem order; devices come before the limits so that a bad rule fails early
ORDER = (
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "rdma",
)
_THROTTLE_FILES = {
    "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
    "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
    "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
    "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
}
_EINVAL = frozenset({errno.EINVAL})
_ENOENT = frozenset({errno.ENOENT})


def plan_v1(
    resources: Mapping[str, Any] | None,
    *,
    controllers: Collection[str] | None = None,
    current_memory_limit: int | None = None,
) -> Plan:
    """The v1 writes for ``resources``, limited to ``controllers`` (default: all).

    ``current_memory_limit`` is the cgroup's memory.limit_in_bytes now (None: unlimited, as in
    a new cgroup); it decides the order of the memory and memory+swap writes.
    """
    r = Fields(resources, "linux.resources")
    if r.mapping("unified"):
        raise CgroupError("linux.resources.unified: needs cgroup v2, this host has only v1")
    planner = _Planner(r, current_memory_limit)
    for name in ORDER:
        if controllers is None or name in controllers:
            planner.controllers[name]()
    return planner.plan


class _Planner:
    def __init__(self, r: Fields, current_memory_limit: int | None) -> None:
        self.r = r
        self.current_memory_limit = current_memory_limit
        self.plan = Plan()
        self.controllers: dict[str, Callable[[], None]] = {
            "cpuset": self.cpuset,
            "devices": self.devices,
            "memory": self.memory,
            "cpu": self.cpu,
            "pids": self.pids,
            "blkio": self.blkio,
            "hugetlb": self.hugetlb,
            "net_cls": self.net_cls,
            "net_prio": self.net_prio,
            "rdma": self.rdma,
        }

    def add(self, controller: str, file: str, value: object, field: str, **kw: Any) -> None:
        self.plan.add(Write(controller, file, str(value), field, **kw))

    def cpuset(self) -> None:
        for key in ("cpus", "mems"):
            value = values.cpu_list(self.r, key)
            if value is not None:
                self.add("cpuset", f"cpuset.{key}", value, f"linux.resources.cpu.{key}")

    def devices(self) -> None:
        rules = values.device_rules(self.r)
        if rules is None:
            return
        # deny everything first, so that the list that follows is the whole policy
        self.add("devices", "devices.deny", "a", "linux.resources.devices")
        rules = _canonical_order(rules)
        for rule in rules:
            file = "devices.allow" if rule.allow else "devices.deny"
            if rule.type == "a" and rule.access == "rwm":
                self.add("devices", file, "a", rule.field)
                continue
            # the kernel reads a bare 'a' as "everything", whatever access follows it
            for kind in ("c", "b") if rule.type == "a" else (rule.type,):
                line = f"{kind} {rule.major}:{rule.minor} {rule.access}"
                self.add("devices", file, line, rule.field)

    def memory(self) -> None:
        m, warnings = values.memory(self.r)
        self.plan.warnings.extend(warnings)
        field = "linux.resources.memory"
        swap, swap_tolerate = m.swap, frozenset[int]()
        if m.limit == -1 and swap == 0:
            # unlimited memory with no swap setting lifts the memory+swap limit too,
            # where the kernel accounts swap at all
            swap, swap_tolerate = -1, _ENOENT
        limit_write = swap_write = None
        if m.limit:
            limit_write = Write("memory", "memory.limit_in_bytes", str(m.limit), f"{field}.limit")
        if swap:
            swap_write = Write(
                "memory",
                "memory.memsw.limit_in_bytes",
                str(swap),
                f"{field}.swap",
                tolerate=swap_tolerate,
            )
        current = self.current_memory_limit
        raising = swap == -1 or (current is not None and current < swap)
        # the kernel keeps memsw >= limit at every step: raise memsw first, lower it last
        ordered = [swap_write, limit_write] if raising else [limit_write, swap_write]
        self.plan.writes.extend(w for w in ordered if w is not None)
        if m.reservation:
            self.add("memory", "memory.soft_limit_in_bytes", m.reservation, f"{field}.reservation")
        if m.disable_oom_killer:
            self.add("memory", "memory.oom_control", 1, f"{field}.disableOOMKiller")
        if m.swappiness is not None:
            self.add("memory", "memory.swappiness", m.swappiness, f"{field}.swappiness")
        if m.check_before_update and m.limit > 0:
            self.plan.check_memory_limit = m.limit

    def cpu(self) -> None:
        c = values.cpu(self.r)
        field = "linux.resources.cpu"
        if c.shares:
            self.add("cpu", "cpu.shares", c.shares, f"{field}.shares")
        # period and burst may be refused (EINVAL) against the old quota; then they are
        # written again once the new quota is in place
        retry = _EINVAL if c.quota else frozenset[int]()
        if c.period:
            self.add("cpu", "cpu.cfs_period_us", c.period, f"{field}.period", tolerate=retry)
        if c.burst is not None:
            self.add("cpu", "cpu.cfs_burst_us", c.burst, f"{field}.burst", tolerate=retry | _ENOENT)
        if c.quota:
            self.add("cpu", "cpu.cfs_quota_us", c.quota, f"{field}.quota")
            if c.period:
                self.add("cpu", "cpu.cfs_period_us", c.period, f"{field}.period")
            if c.burst is not None:
                self.add("cpu", "cpu.cfs_burst_us", c.burst, f"{field}.burst", tolerate=_ENOENT)
        if c.idle is not None:
            self.add("cpu", "cpu.idle", c.idle, f"{field}.idle")
        # the same dance for the realtime pair: the period can be refused until the runtime fits
        rt_retry = _EINVAL if c.realtime_runtime else frozenset[int]()
        if c.realtime_period:
            self.add(
                "cpu",
                "cpu.rt_period_us",
                c.realtime_period,
                f"{field}.realtimePeriod",
                tolerate=rt_retry,
            )
        if c.realtime_runtime:
            self.add("cpu", "cpu.rt_runtime_us", c.realtime_runtime, f"{field}.realtimeRuntime")
            if c.realtime_period:
                self.add("cpu", "cpu.rt_period_us", c.realtime_period, f"{field}.realtimePeriod")

    def pids(self) -> None:
        limit = values.pids_limit(self.r)
        if limit is not None:
            self.add("pids", "pids.max", limit, "linux.resources.pids.limit")

    def blkio(self) -> None:
        b = values.block_io(self.r)
        field = "linux.resources.blockIO"
        if b.weight:
            # kernels with only the BFQ scheduler have blkio.bfq.weight instead
            bfq = Write("blkio", "blkio.bfq.weight", str(b.weight), f"{field}.weight")
            self.add("blkio", "blkio.weight", b.weight, f"{field}.weight", fallback=bfq)
        if b.leaf_weight:
            self.add("blkio", "blkio.leaf_weight", b.leaf_weight, f"{field}.leafWeight")
        for d in b.weight_devices:
            if d.weight:
                line = f"{d.device} {d.weight}"
                bfq = Write("blkio", "blkio.bfq.weight_device", line, d.field)
                self.add("blkio", "blkio.weight_device", line, d.field, fallback=bfq)
            if d.leaf_weight:
                self.add(
                    "blkio", "blkio.leaf_weight_device", f"{d.device} {d.leaf_weight}", d.field
                )
        for t in b.throttles:
            self.add("blkio", _THROTTLE_FILES[t.kind], f"{t.device} {t.rate}", t.field)

    def hugetlb(self) -> None:
        for field, size, limit in values.hugepages(self.r):
            self.add("hugetlb", f"hugetlb.{size}.limit_in_bytes", limit, field)
            self.add(
                "hugetlb", f"hugetlb.{size}.rsvd.limit_in_bytes", limit, field, tolerate=_ENOENT
            )

    def net_cls(self) -> None:
        class_id = self.r.sub("network").integer("classID", minimum=0, maximum=0xFFFFFFFF)
        if class_id is not None:
            self.add("net_cls", "net_cls.classid", class_id, "linux.resources.network.classID")

    def net_prio(self) -> None:
        for field, line in values.net_priorities(self.r):
            self.add("net_prio", "net_prio.ifpriomap", line, field)

    def rdma(self) -> None:
        for field, line in values.rdma(self.r):
            self.add("rdma", "rdma.max", line, field)


def _canonical_order(rules: list[values.DeviceRule]) -> list[values.DeviceRule]:
    """The list the kernel ends up with, written sorted, as runc does, so that
    devices.list reads the same under both.

    After the deny-all, the kernel keeps a set of exceptions: an allow adds access to
    the exception of exactly that type:major:minor, a deny takes access away from
    exactly that one (wildcards are compared as values, not expanded). Emulating that
    gives the same policy. A later rule for type "a" switches modes: keep the order.
    """
    leading = 0
    while leading < len(rules) and not rules[leading].allow and rules[leading].type == "a":
        leading += 1
    rest = rules[leading:]
    if any(rule.type == "a" for rule in rest):
        return rules
    exceptions: dict[tuple[str, str, str], tuple[set[str], values.DeviceRule]] = {}
    for rule in rest:
        key = (rule.type, rule.major, rule.minor)
        access, _ = exceptions.get(key, (set(), rule))
        access = access | set(rule.access) if rule.allow else access - set(rule.access)
        if access:
            exceptions[key] = (access, rule)
        else:
            exceptions.pop(key, None)

    def number(text: str) -> int:
        return -1 if text == "*" else int(text)

    kept = []
    for (kind, major, minor), (access, rule) in sorted(
        exceptions.items(), key=lambda item: (item[0][0], number(item[0][1]), number(item[0][2]))
    ):
        text = "".join(ch for ch in "rwm" if ch in access)
        kept.append(values.DeviceRule(rule.field, True, kind, major, minor, text))
    return rules[:leading] + kept

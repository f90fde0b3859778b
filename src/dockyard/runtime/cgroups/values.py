"""Validated values of each ``linux.resources`` section, shared by the v1 and v2 planners.

The OCI spec mirrors Go's zero values: for most numbers 0 means "unset" (as runc reads them),
-1 means "unlimited". pids.limit is the exception: 0 is a real limit.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import CgroupError
from .fields import Fields

_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_PAGE_SIZE = re.compile(r"^[1-9][0-9]*[KMGT]B$")
_NAME = re.compile(r"^[^\s/]+$")


class Memory(NamedTuple):
    limit: int  # 0 unset, -1 unlimited
    reservation: int
    swap: int  # memory+swap, as v1 memsw
    swappiness: int | None
    disable_oom_killer: bool
    check_before_update: bool


def memory(r: Fields) -> tuple[Memory, list[str]]:
    m = r.sub("memory")
    limit = m.integer("limit", minimum=-1) or 0
    swap = m.integer("swap", minimum=-1) or 0
    if limit > 0 and swap > 0 and swap < limit:
        raise CgroupError(
            f"{m.path('swap')}: memory+swap ({swap}) must be >= memory.limit ({limit})"
        )
    swappiness = m.integer("swappiness", minimum=-1, maximum=100)
    warnings = [
        f"{m.path(key)}: kernel memory limits are not supported by current kernels; ignored"
        for key in ("kernel", "kernelTCP")
        if m.integer(key, minimum=-1)
    ]
    if m.boolean("useHierarchy") is False:
        warnings.append(f"{m.path('useHierarchy')}: memory is always hierarchical; ignored")
    values = Memory(
        limit=limit,
        reservation=m.integer("reservation", minimum=-1) or 0,
        swap=swap,
        swappiness=None if swappiness == -1 else swappiness,
        disable_oom_killer=bool(m.boolean("disableOOMKiller")),
        check_before_update=bool(m.boolean("checkBeforeUpdate")),
    )
    return values, warnings


class Cpu(NamedTuple):
    shares: int  # 0 unset
    quota: int  # 0 unset, -1 unlimited
    period: int  # 0 unset
    burst: int | None
    realtime_runtime: int  # 0 unset, -1 unlimited
    realtime_period: int
    idle: int | None


def cpu(r: Fields) -> Cpu:
    c = r.sub("cpu")
    shares = c.integer("shares", minimum=0) or 0
    if shares and not 2 <= shares <= 262144:
        raise CgroupError(f"{c.path('shares')}: must be between 2 and 262144, not {shares}")
    return Cpu(
        shares=shares,
        quota=c.integer("quota", minimum=-1) or 0,
        period=c.integer("period", minimum=0) or 0,
        burst=c.integer("burst", minimum=0),
        realtime_runtime=c.integer("realtimeRuntime", minimum=-1) or 0,
        realtime_period=c.integer("realtimePeriod", minimum=0) or 0,
        idle=c.integer("idle", minimum=0, maximum=1),
    )


def cpu_list(r: Fields, key: str) -> str | None:
    """cpu.cpus or cpu.mems: a list such as ``0-3,5``; '' means unset."""
    c = r.sub("cpu")
    value = c.string(key)
    if not value:
        return None
    value = value.strip()
    if not _CPU_LIST.match(value):
        raise CgroupError(f"{c.path(key)}: must be a list such as '0-3,5', not {value!r}")
    return value


def pids_limit(r: Fields) -> str | None:
    limit = r.sub("pids").integer("limit", minimum=-1)
    if limit is None:
        return None
    return "max" if limit == -1 else str(limit)


def device_number(f: Fields) -> str:
    major = f.integer("major", minimum=0)
    minor = f.integer("minor", minimum=0)
    if major is None or minor is None:
        raise CgroupError(f"{f.name}: major and minor are required")
    return f"{major}:{minor}"


class WeightDevice(NamedTuple):
    field: str
    device: str  # MAJ:MIN
    weight: int  # 0 unset
    leaf_weight: int


class Throttle(NamedTuple):
    field: str
    kind: str  # the OCI key, e.g. throttleReadBpsDevice
    device: str
    rate: int


THROTTLE_KINDS = (
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice",
)


class BlockIO(NamedTuple):
    weight: int  # 0 unset
    leaf_weight: int
    weight_devices: list[WeightDevice]
    throttles: list[Throttle]


def block_io(r: Fields) -> BlockIO:
    b = r.sub("blockIO")
    weight_devices = [
        WeightDevice(
            field=d.name,
            device=device_number(d),
            weight=d.integer("weight", minimum=0, maximum=1000) or 0,
            leaf_weight=d.integer("leafWeight", minimum=0, maximum=1000) or 0,
        )
        for d in b.objects("weightDevice")
    ]
    throttles = []
    for kind in THROTTLE_KINDS:
        for d in b.objects(kind):
            rate = d.integer("rate", minimum=0)
            if rate is None:
                raise CgroupError(f"{d.path('rate')}: is required")
            throttles.append(Throttle(field=d.name, kind=kind, device=device_number(d), rate=rate))
    return BlockIO(
        weight=b.integer("weight", minimum=0, maximum=1000) or 0,
        leaf_weight=b.integer("leafWeight", minimum=0, maximum=1000) or 0,
        weight_devices=weight_devices,
        throttles=throttles,
    )


def hugepages(r: Fields) -> list[tuple[str, str, int]]:
    """(field, page size such as '2MB', limit in bytes) per hugepageLimits entry."""
    found = []
    for h in r.objects("hugepageLimits"):
        size = h.string("pageSize")
        if not size or not _PAGE_SIZE.match(size):
            raise CgroupError(f"{h.path('pageSize')}: must be a size such as '2MB', not {size!r}")
        limit = h.integer("limit", minimum=0)
        if limit is None:
            raise CgroupError(f"{h.path('limit')}: is required")
        found.append((h.name, size, limit))
    return found


def net_priorities(r: Fields) -> list[tuple[str, str]]:
    """(field, 'ifname priority') per network.priorities entry."""
    found = []
    for p in r.sub("network").objects("priorities"):
        name = p.string("name")
        if not name or not _NAME.match(name):
            raise CgroupError(f"{p.path('name')}: must be an interface name, not {name!r}")
        priority = p.integer("priority", minimum=0)
        if priority is None:
            raise CgroupError(f"{p.path('priority')}: is required")
        found.append((p.name, f"{name} {priority}"))
    return found


def rdma(r: Fields) -> list[tuple[str, str]]:
    """(field, 'dev hca_handle=N hca_object=M') per rdma device."""
    found = []
    section = r.sub("rdma")
    for device in r.mapping("rdma"):
        d = section.sub(device)
        if not _NAME.match(device):
            raise CgroupError(f"{d.name}: must be an RDMA device name")
        parts = [device]
        handles = d.integer("hcaHandles", minimum=0)
        objects = d.integer("hcaObjects", minimum=0)
        if handles is not None:
            parts.append(f"hca_handle={handles}")
        if objects is not None:
            parts.append(f"hca_object={objects}")
        if len(parts) > 1:
            found.append((d.name, " ".join(parts)))
    return found


class DeviceRule(NamedTuple):
    field: str
    allow: bool
    type: str  # a (all), c or b
    major: str  # a number or '*'
    minor: str
    access: str  # a non-empty subset of 'rwm'


def device_rules(r: Fields) -> list[DeviceRule] | None:
    """The devices allow/deny list in order; None when config.json has none."""
    if not r.has("devices"):
        return None
    rules = []
    for d in r.objects("devices"):
        allow = d.boolean("allow")
        if allow is None:
            raise CgroupError(f"{d.path('allow')}: is required")
        kind = d.string("type") or "a"
        if kind not in ("a", "c", "b"):
            raise CgroupError(f"{d.path('type')}: must be 'a', 'c' or 'b', not {kind!r}")
        access = d.string("access") or "rwm"
        if set(access) - set("rwm") or len(set(access)) != len(access):
            raise CgroupError(f"{d.path('access')}: must be made of r, w and m, not {access!r}")
        numbers = []
        for key in ("major", "minor"):
            number = d.integer(key, minimum=-1)
            numbers.append("*" if number is None or number == -1 else str(number))
        rules.append(DeviceRule(d.name, allow, kind, numbers[0], numbers[1], access))
    return rules

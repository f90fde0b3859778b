"""Usage counters of a container's cgroup, shaped like Docker's stats JSON.

Keys follow the Engine API (``memory_stats``, ``cpu_stats.cpu_usage.total_usage``, ...); a value
that the host does not report, or an unlimited limit, is None (Docker omits those). The engine
adds what is not per cgroup: ``system_cpu_usage``, ``online_cpus``, and the host's memory as the
limit of an unlimited container. ``memory_stats.oom_kill`` is dockyard's own addition.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .fsio import read_int, read_keyed, read_text

# v1 reports "no limit" as the page counter maximum, rounded to pages: anything this big
_V1_UNLIMITED = 1 << 62


def collect(v1: Mapping[str, str], unified: str | None) -> dict[str, Any]:
    return {
        "memory_stats": _memory(v1, unified),
        "cpu_stats": _cpu(v1, unified),
        "pids_stats": _pids(v1.get("pids") or unified),
        "blkio_stats": _blkio(v1, unified),
    }


def oom_kills(v1: Mapping[str, str], unified: str | None) -> int:
    if "memory" in v1:
        return read_keyed(os.path.join(v1["memory"], "memory.oom_control")).get("oom_kill", 0)
    if unified is not None:
        return read_keyed(os.path.join(unified, "memory.events")).get("oom_kill", 0)
    return 0


def _memory(v1: Mapping[str, str], unified: str | None) -> dict[str, Any]:
    if "memory" in v1:
        d = v1["memory"]
        limit = read_int(os.path.join(d, "memory.limit_in_bytes"))
        return {
            "usage": read_int(os.path.join(d, "memory.usage_in_bytes")),
            "max_usage": read_int(os.path.join(d, "memory.max_usage_in_bytes")),
            "limit": None if limit is None or limit >= _V1_UNLIMITED else limit,
            "failcnt": read_int(os.path.join(d, "memory.failcnt")),
            "oom_kill": oom_kills(v1, unified),
            "stats": read_keyed(os.path.join(d, "memory.stat")),
        }
    if unified is None:
        return {}
    events = read_keyed(os.path.join(unified, "memory.events"))
    return {
        "usage": read_int(os.path.join(unified, "memory.current")),
        "max_usage": read_int(os.path.join(unified, "memory.peak")),
        "limit": read_int(os.path.join(unified, "memory.max")),
        "failcnt": events.get("max"),
        "oom_kill": events.get("oom_kill", 0),
        "stats": read_keyed(os.path.join(unified, "memory.stat")),
    }


def _cpu(v1: Mapping[str, str], unified: str | None) -> dict[str, Any]:
    if "cpuacct" in v1:
        d = v1["cpuacct"]
        percpu = read_text(os.path.join(d, "cpuacct.usage_percpu"))
        user = read_int(os.path.join(d, "cpuacct.usage_user"))
        system = read_int(os.path.join(d, "cpuacct.usage_sys"))
        if user is None or system is None:
            # older kernels: only cpuacct.stat, in clock ticks
            ticks = read_keyed(os.path.join(d, "cpuacct.stat"))
            hertz = os.sysconf("SC_CLK_TCK")
            user = ticks.get("user", 0) * 10**9 // hertz
            system = ticks.get("system", 0) * 10**9 // hertz
        usage = {
            "total_usage": read_int(os.path.join(d, "cpuacct.usage")),
            "percpu_usage": [int(n) for n in percpu.split()] if percpu else None,
            "usage_in_kernelmode": system,
            "usage_in_usermode": user,
        }
        throttling = read_keyed(os.path.join(v1["cpu"], "cpu.stat")) if "cpu" in v1 else {}
        return {"cpu_usage": usage, "throttling_data": _throttling(throttling, 1)}
    if unified is None:
        return {}
    stat = read_keyed(os.path.join(unified, "cpu.stat"))
    usage = {
        "total_usage": _scaled(stat.get("usage_usec"), 1000),
        "percpu_usage": None,
        "usage_in_kernelmode": _scaled(stat.get("system_usec"), 1000),
        "usage_in_usermode": _scaled(stat.get("user_usec"), 1000),
    }
    return {"cpu_usage": usage, "throttling_data": _throttling(stat, 1000)}


def _throttling(stat: Mapping[str, int], scale: int) -> dict[str, int | None]:
    time = stat.get("throttled_time") if scale == 1 else stat.get("throttled_usec")
    return {
        "periods": stat.get("nr_periods"),
        "throttled_periods": stat.get("nr_throttled"),
        "throttled_time": _scaled(time, scale),
    }


def _scaled(value: int | None, scale: int) -> int | None:
    return None if value is None else value * scale


def _pids(d: str | None) -> dict[str, int | None]:
    if d is None:
        return {}
    return {
        "current": read_int(os.path.join(d, "pids.current")),
        "limit": read_int(os.path.join(d, "pids.max")),
    }


def _blkio(v1: Mapping[str, str], unified: str | None) -> dict[str, list[dict[str, Any]]]:
    if "blkio" in v1:
        d = v1["blkio"]
        return {
            "io_service_bytes_recursive": _v1_io(
                os.path.join(d, "blkio.throttle.io_service_bytes_recursive")
            ),
            "io_serviced_recursive": _v1_io(
                os.path.join(d, "blkio.throttle.io_serviced_recursive")
            ),
        }
    if unified is None:
        return {}
    service_bytes, serviced = [], []
    for line in (read_text(os.path.join(unified, "io.stat")) or "").splitlines():
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        counters = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        for op, key, into in (
            ("read", "rbytes", service_bytes),
            ("write", "wbytes", service_bytes),
            ("read", "rios", serviced),
            ("write", "wios", serviced),
        ):
            if key in counters:
                into.append(_entry(major, minor, op, counters[key]))
    return {"io_service_bytes_recursive": service_bytes, "io_serviced_recursive": serviced}


def _v1_io(path: str) -> list[dict[str, Any]]:
    entries = []
    for line in (read_text(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 3:  # "MAJ:MIN Op value"; the last line is "Total value"
            major, _, minor = parts[0].partition(":")
            entries.append(_entry(major, minor, parts[1], parts[2]))
    return entries


def _entry(major: str, minor: str, op: str, value: str) -> dict[str, Any]:
    return {"major": int(major), "minor": int(minor), "op": op, "value": int(value)}

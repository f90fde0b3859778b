"""What a planner decides: the files to write, in order, and what it could not honour."""

from __future__ import annotations

from typing import NamedTuple


class Write(NamedTuple):
    """Write ``value`` to ``file`` in the container's cgroup of ``controller``.

    ``controller`` is a v1 subsystem, or (with ``unified``) a v2 controller, '' for cgroup core
    files. ``tolerate`` holds errnos that are not failures, because the write is optional or a
    later write in the plan completes it. ``fallback`` is written instead when ``file`` does not
    exist (e.g. blkio.weight on a kernel that only has the BFQ files).
    """

    controller: str
    file: str
    value: str
    field: str
    unified: bool = False
    tolerate: frozenset[int] = frozenset()
    fallback: Write | None = None


class Plan:
    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.warnings: list[str] = []
        # linux.resources.devices was set but nothing enforces it (v2 needs an eBPF program)
        self.devices_unenforced = False
        # memory.checkBeforeUpdate: refuse a memory limit below the current usage
        self.check_memory_limit: int | None = None

    def __repr__(self) -> str:
        return f"Plan(writes={self.writes!r}, warnings={self.warnings!r})"

    def add(self, write: Write) -> None:
        self.writes.append(write)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def extend(self, other: Plan) -> None:
        self.writes.extend(other.writes)
        self.warnings.extend(other.warnings)
        self.devices_unenforced = self.devices_unenforced or other.devices_unenforced
        if other.check_memory_limit is not None:
            self.check_memory_limit = other.check_memory_limit

"""What a planner decides: the files to write, in order, and what it could not honour."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Write:
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


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # linux.resources.devices was set but nothing enforces it (cgroup v2 needs an eBPF program)
    devices_unenforced: bool = False
    # memory.checkBeforeUpdate: refuse a memory limit below the current usage
    check_memory_limit: int | None = None

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

"""One container's cgroup in every hierarchy: create, join, limit, freeze, kill, remove.

The manager is described entirely by its directories (``paths()``), so that a later CLI call
(state, kill, pause, delete) rebuilds it from state.json with ``from_paths()``. Those calls
start a fresh interpreter each, so the planners and stats are imported only when used,
warnings are returned rather than logged, and paths are strings (no pathlib, no logging).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Iterable, Mapping
from typing import Any

from . import freezer
from .detect import SYSTEMD, UNIFIED, Mode
from .errors import CgroupError
from .fsio import read_int, read_text, read_words, wait_until, write_value
from .writes import Write

# where to read the member pids on v1: any hierarchy will do, these are the likeliest
_PIDS_SOURCES = ("freezer", "pids", "memory", "devices", "cpu", "cpuacct", "cpuset", "blkio")
DEFAULT_TIMEOUT_S = 5.0


class CgroupManager:
    def __init__(
        self,
        v1: Mapping[str, str | os.PathLike[str]],
        unified: str | os.PathLike[str] | None = None,
    ) -> None:
        self._v1 = {name: os.fspath(path) for name, path in v1.items()}
        self._unified = os.fspath(unified) if unified else None
        if not self._v1 and self._unified is None:
            raise CgroupError("cgroups: a manager needs at least one hierarchy")

    @classmethod
    def from_paths(cls, paths: Mapping[str, str]) -> CgroupManager:
        """Rebuild a manager from what ``paths()`` returned."""
        v1 = {name: path for name, path in paths.items() if name != UNIFIED}
        return cls(v1, paths.get(UNIFIED))

    def paths(self) -> dict[str, str]:
        """Controller (or 'name=systemd') -> absolute directory; '' is the cgroup2 one."""
        found = dict(self._v1)
        if self._unified is not None:
            found[UNIFIED] = self._unified
        return found

    @property
    def mode(self) -> str:
        """Mode.LEGACY, Mode.HYBRID or Mode.UNIFIED."""
        if self._unified is None:
            return Mode.LEGACY
        return Mode.HYBRID if self._v1 else Mode.UNIFIED

    def create(self) -> None:
        """Make the directories; nothing is limited yet."""
        cpuset = self._v1.get("cpuset")
        for d in self._dirs():
            if d == cpuset:
                _make_cpuset(d)
            else:
                os.makedirs(d, exist_ok=True)
        if self._unified is not None and self.mode == Mode.UNIFIED:
            top = _hierarchy_root(self._unified, "cgroup.controllers")
            self._enable(read_words(os.path.join(top, "cgroup.controllers")))

    def add_pid(self, pid: int) -> None:
        """Move ``pid`` into the cgroup of every hierarchy (before it runs the container)."""
        for d in self._dirs():
            try:
                write_value(os.path.join(d, "cgroup.procs"), str(pid))
            except OSError as error:
                raise CgroupError(
                    f"cgroups: cannot move pid {pid} into {d}: {error.strerror}"
                ) from error

    def apply(self, resources: Mapping[str, Any] | None) -> list[str]:
        """Write the limits of an OCI ``linux.resources``; returns the warnings to show."""
        from .plan import plan_for_host

        memory = self._v1.get("memory")
        current = read_int(os.path.join(memory, "memory.limit_in_bytes")) if memory else None
        plan = plan_for_host(
            resources,
            v1_controllers=[name for name in self._v1 if name != SYSTEMD],
            unified_controllers=self._unified_controllers(),
            current_memory_limit=current,
        )
        if plan.check_memory_limit is not None:
            self._check_memory_usage(plan.check_memory_limit)
        needed = {w.controller for w in plan.writes if w.unified} - {"", "devices"}
        if needed:
            self._enable(needed)  # on a hybrid host create() enabled nothing
        for write in plan.writes:
            directory = self._unified if write.unified else self._v1[write.controller]
            assert directory is not None
            _write(directory, write)
        return plan.warnings

    def freeze(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        kind, d = self._freezer()
        if kind == "v1":
            freezer.freeze_v1(d, timeout)
        else:
            freezer.freeze_v2(d, timeout)

    def thaw(self) -> None:
        kind, d = self._freezer()
        if kind == "v1":
            freezer.thaw_v1(d)
        else:
            freezer.thaw_v2(d)

    def is_frozen(self) -> bool:
        kind, d = self._freezer()
        return freezer.is_frozen_v1(d) if kind == "v1" else freezer.is_frozen_v2(d)

    def pids(self) -> list[int]:
        """Every process in the cgroup and the cgroups below it."""
        found: set[int] = set()
        for directory, _, _ in os.walk(self._pids_source()):
            procs = read_text(os.path.join(directory, "cgroup.procs")) or ""
            found.update(int(pid) for pid in procs.split())
        return sorted(found)

    def kill_all(self, sig: int) -> None:
        """Send ``sig`` to every process, with the cgroup frozen so that none escapes by fork."""
        kill_file = self._kill_file()
        if sig == signal.SIGKILL and kill_file is not None:
            write_value(kill_file, "1")
            return
        froze = self._try_freeze()
        try:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        finally:
            # a frozen v1 task only dies once thawed, even when it was paused before
            if froze or sig == signal.SIGKILL:
                with contextlib.suppress(CgroupError, OSError):
                    self.thaw()

    def destroy(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Kill what is left, then remove the directories leaf first. Safe to call twice."""
        if not any(os.path.exists(d) for d in self._dirs()):
            return
        if self.pids():
            self.kill_all(signal.SIGKILL)  # thaws a paused container too
            events = None
            if self._unified is not None and self.mode == Mode.UNIFIED:
                events = os.path.join(self._unified, "cgroup.events")
            if not wait_until(lambda: not self.pids(), timeout, events=events):
                raise TimeoutError(f"cgroup {self._pids_source()} still has {self.pids()}")
        for d in self._dirs():
            _remove_tree(d, timeout)

    def stats(self) -> dict[str, Any]:
        """Docker-shaped counters: memory_stats, cpu_stats, pids_stats, blkio_stats."""
        from .stats import collect

        return collect(self._v1, self._unified)

    def oom_killed(self) -> bool:
        from .stats import oom_kills

        return oom_kills(self._v1, self._unified) > 0

    def _dirs(self) -> list[str]:
        """Each directory once (co-mounted controllers share one), cgroup2 last."""
        unique = list(dict.fromkeys(self._v1.values()))
        if self._unified is not None:
            unique.append(self._unified)
        return unique

    def _pids_source(self) -> str:
        for name in _PIDS_SOURCES:
            if name in self._v1:
                return self._v1[name]
        return self._unified or next(iter(self._v1.values()))

    def _freezer(self) -> tuple[str, str]:
        if "freezer" in self._v1:
            return "v1", self._v1["freezer"]
        if self._unified is not None:
            return "v2", self._unified
        raise CgroupError("cgroups: this host has no freezer (v1 freezer or cgroup2)")

    def _try_freeze(self) -> bool:
        """Freeze unless already frozen; True when this call froze it."""
        try:
            if self.is_frozen():
                return False
            self.freeze()
        except (CgroupError, OSError, TimeoutError):
            return False  # signalling matters more than freezing first
        return True

    def _kill_file(self) -> str | None:
        """cgroup2's cgroup.kill (kernel 5.14+), on a unified host."""
        if self._unified is None or self.mode != Mode.UNIFIED:
            return None
        path = os.path.join(self._unified, "cgroup.kill")
        return path if os.path.exists(path) else None

    def _unified_controllers(self) -> set[str] | None:
        if self._unified is None:
            return None
        top = _hierarchy_root(self._unified, "cgroup.controllers")
        return read_words(os.path.join(top, "cgroup.controllers"))

    def _enable(self, controllers: Iterable[str]) -> None:
        """Turn ``controllers`` on in cgroup.subtree_control from the top down to our parent.

        Best effort, as runc: a cgroup that holds processes refuses (EBUSY), and the write of
        a limit then fails with a message naming the field.
        """
        assert self._unified is not None
        wanted = set(controllers)
        top = _hierarchy_root(self._unified, "cgroup.controllers")
        level = top
        for part in _parts_below(self._unified, top):
            subtree = os.path.join(level, "cgroup.subtree_control")
            available = read_words(os.path.join(level, "cgroup.controllers"))
            for name in sorted((wanted & available) - read_words(subtree)):
                with contextlib.suppress(OSError):
                    write_value(subtree, f"+{name}")
            level = os.path.join(level, part)

    def _check_memory_usage(self, limit: int) -> None:
        memory = self._v1.get("memory")
        if memory is not None:
            usage = read_int(os.path.join(memory, "memory.usage_in_bytes"))
        elif self._unified is not None:
            usage = read_int(os.path.join(self._unified, "memory.current"))
        else:
            usage = None
        if usage is not None and usage > limit:
            raise CgroupError(
                f"linux.resources.memory.limit: {limit} is below the current usage {usage} "
                "(memory.checkBeforeUpdate is set)"
            )


def _write(directory: str, write: Write) -> None:
    path = os.path.join(directory, write.file)
    try:
        write_value(path, write.value)
    except OSError as error:
        if error.errno == errno.ENOENT and write.fallback is not None:
            _write(directory, write.fallback)
            return
        if error.errno in write.tolerate:
            return
        if error.errno == errno.ENOENT and not os.path.isdir(directory):
            reason = f"cgroup {directory} does not exist"
        elif error.errno == errno.ENOENT:
            reason = (
                f"{path} does not exist: the kernel lacks it or the {write.controller} "
                "controller is not enabled for this cgroup"
            )
        else:
            reason = f"writing {write.value!r} to {path}: {error.strerror}"
        raise CgroupError(f"{write.field}: {reason}") from error


def _hierarchy_root(directory: str, marker: str) -> str | None:
    """The topmost ancestor of ``directory`` that still has ``marker`` (the mount point)."""
    top = None
    candidate = directory
    while True:
        if os.path.exists(os.path.join(candidate, marker)):
            top = candidate
        elif top is not None:
            return top
        parent = os.path.dirname(candidate)
        if parent == candidate:
            return top
        candidate = parent


def _parts_below(leaf: str, top: str | None) -> list[str]:
    """The path components from ``top`` down to ``leaf``; none without a top."""
    if top is None or top == leaf:
        return []
    return os.path.relpath(leaf, top).split(os.sep)


def _make_cpuset(leaf: str) -> None:
    """mkdir each level, copying cpus and mems from its parent: with clone_children=0 a new
    cpuset is empty, and a task cannot join an empty one (ENOSPC)."""
    top = _hierarchy_root(leaf, "cpuset.cpus")
    if top is None or top == leaf:  # no cpuset files above: nothing to copy from
        os.makedirs(leaf, exist_ok=True)
        return
    parent = top
    for part in _parts_below(leaf, top):
        current = os.path.join(parent, part)
        with contextlib.suppress(FileExistsError):
            os.mkdir(current)
        for name in ("cpuset.cpus", "cpuset.mems"):
            mine = read_text(os.path.join(current, name))
            if mine is not None and not mine.strip():
                inherited = (read_text(os.path.join(parent, name)) or "").strip()
                write_value(os.path.join(current, name), inherited)
        parent = current


def _remove_tree(directory: str, timeout: float) -> None:
    """rmdir the cgroups below ``directory``, then itself, deepest first."""
    for current, _, _ in os.walk(directory, topdown=False):

        def removed(path: str = current) -> bool:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                return True
            except OSError as error:
                # a cgroup whose last task just exited can be busy for a moment
                if error.errno != errno.EBUSY:
                    raise
                return False
            return True

        if not wait_until(removed, timeout):
            raise TimeoutError(f"cgroup {current} is still busy after {timeout}s")

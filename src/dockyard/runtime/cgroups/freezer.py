"""Freezing a cgroup: v1 ``freezer.state``, v2 ``cgroup.freeze`` + ``cgroup.events``."""

from __future__ import annotations

from pathlib import Path

from .fsio import read_keyed, read_text, wait_until, write_value


def freeze_v1(cgroup: Path, timeout: float) -> None:
    state = cgroup / "freezer.state"

    def frozen() -> bool:
        # asked again on every check: a task forked while FREEZING can keep the cgroup there
        write_value(state, "FROZEN")
        return (read_text(state) or "").strip() == "FROZEN"

    if not wait_until(frozen, timeout):
        write_value(state, "THAWED")  # never leave it half frozen
        raise TimeoutError(f"cgroup {cgroup} did not freeze within {timeout}s")


def thaw_v1(cgroup: Path) -> None:
    write_value(cgroup / "freezer.state", "THAWED")


def is_frozen_v1(cgroup: Path) -> bool:
    return (read_text(cgroup / "freezer.state") or "").strip() == "FROZEN"


def freeze_v2(cgroup: Path, timeout: float) -> None:
    write_value(cgroup / "cgroup.freeze", "1")
    if not wait_until(lambda: is_frozen_v2(cgroup), timeout, events=cgroup / "cgroup.events"):
        write_value(cgroup / "cgroup.freeze", "0")  # never leave it half frozen
        raise TimeoutError(f"cgroup {cgroup} did not freeze within {timeout}s")


def thaw_v2(cgroup: Path) -> None:
    write_value(cgroup / "cgroup.freeze", "0")


def is_frozen_v2(cgroup: Path) -> bool:
    return read_keyed(cgroup / "cgroup.events").get("frozen") == 1

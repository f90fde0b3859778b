"""Freezing a cgroup: v1 ``freezer.state``, v2 ``cgroup.freeze`` + ``cgroup.events``."""

from __future__ import annotations

import os

from .fsio import read_keyed, read_text, wait_until, write_value


def freeze_v1(cgroup: str, timeout: float) -> None:
    state = os.path.join(cgroup, "freezer.state")

    def frozen() -> bool:
        # asked again on every check: a task forked while FREEZING can keep the cgroup there
        write_value(state, "FROZEN")
        return (read_text(state) or "").strip() == "FROZEN"

    if not wait_until(frozen, timeout):
        write_value(state, "THAWED")  # never leave it half frozen
        raise TimeoutError(f"cgroup {cgroup} did not freeze within {timeout}s")


def thaw_v1(cgroup: str) -> None:
    write_value(os.path.join(cgroup, "freezer.state"), "THAWED")


def is_frozen_v1(cgroup: str) -> bool:
    return (read_text(os.path.join(cgroup, "freezer.state")) or "").strip() == "FROZEN"


def freeze_v2(cgroup: str, timeout: float) -> None:
    write_value(os.path.join(cgroup, "cgroup.freeze"), "1")
    events = os.path.join(cgroup, "cgroup.events")
    if not wait_until(lambda: is_frozen_v2(cgroup), timeout, events=events):
        write_value(os.path.join(cgroup, "cgroup.freeze"), "0")  # never leave it half frozen
        raise TimeoutError(f"cgroup {cgroup} did not freeze within {timeout}s")


def thaw_v2(cgroup: str) -> None:
    write_value(os.path.join(cgroup, "cgroup.freeze"), "0")


def is_frozen_v2(cgroup: str) -> bool:
    return read_keyed(os.path.join(cgroup, "cgroup.events")).get("frozen") == 1

"""The few file operations cgroups need: whole-value reads and writes, and waiting.

Paths are plain strings (os.path): pathlib costs the runtime CLI ~5 ms of start-up.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

# v1 has no change notification for freezer.state or cgroup.procs: poll with a backoff
_FIRST_BACKOFF_S = 0.001
_MAX_BACKOFF_S = 0.05


def read_text(path: str) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_int(path: str) -> int | None:
    """A single number; None for a missing file or 'max'."""
    text = read_text(path)
    if text is None or text.strip() in ("", "max"):
        return None
    return int(text.split()[0])


def read_keyed(path: str) -> dict[str, int]:
    """A ``key value`` per line file (memory.stat, cpu.stat, memory.events, ...)."""
    found = {}
    for line in (read_text(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            found[key] = int(value)
    return found


def read_words(path: str) -> set[str]:
    """The words of a list file such as cgroup.controllers; empty when it is missing."""
    return set((read_text(path) or "").split())


def write_value(path: str, value: str) -> None:
    """One write(2) of ``value``: cgroup files act on each write, so never split it.

    No O_CREAT: a missing file must fail with ENOENT (the controller or knob is absent).
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def wait_until(done: Callable[[], bool], timeout: float, events: str | None = None) -> bool:
    """Wait until ``done()``: woken by changes of a cgroup2 ``events`` file when there is one
    (kernfs signals POLLPRI), else by polling with a short backoff. False on timeout."""
    deadline = time.monotonic() + timeout
    fd = _open_events(events)
    try:
        backoff = _FIRST_BACKOFF_S
        while True:
            if fd is not None:
                os.pread(fd, 4096, 0)  # arm the notification before checking
            if done():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if fd is not None:
                poller = select.poll()
                poller.register(fd, select.POLLPRI)
                # bounded, in case the file is not a kernfs one that notifies
                poller.poll(min(remaining, 0.1) * 1000)
            else:
                time.sleep(min(backoff, remaining))
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
    finally:
        if fd is not None:
            os.close(fd)


def _open_events(events: str | None) -> int | None:
    if events is None:
        return None
    try:
        return os.open(events, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None

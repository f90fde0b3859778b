"""Cancellation and progress hooks shared by the streaming readers and writers.

The daemon runs archive work in a thread pool: it cancels by setting a
``threading.Event`` (or any callable returning True) and watches progress through a
callback that receives the running total of bytes done. Both are checked once per
chunk, so a cancel takes effect within one chunk (about 1 MiB) of I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from .errors import Cancelled

CHUNK = 1 << 20

Cancel = threading.Event | Callable[[], bool] | None
Progress = Callable[[int], None] | None


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


def is_cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def check_cancel(cancel: Cancel, what: str = "operation") -> None:
    if is_cancelled(cancel):
        raise Cancelled(what)


def readinto(raw: Reader, buffer: memoryview | bytearray) -> int:
    """``raw.readinto`` where it exists (no copy), else ``read`` and copy."""
    into = getattr(raw, "readinto", None)
    if into is not None:
        return into(buffer) or 0
    data = raw.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)

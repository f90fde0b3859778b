"""Network namespaces as bind-mounted files, without fork().

A network namespace is per *thread* on Linux, so dockyard never forks to work in one (the daemon
must not fork while threads run, see DESIGN.md "Processes"): a short-lived thread calls
``unshare(CLONE_NEWNET)`` or ``setns(fd, CLONE_NEWNET)``, does its work (or opens a netlink socket,
which stays bound to that namespace after the thread ends) and exits. The main thread's namespace
is never changed.

``create(path)`` makes a new namespace and keeps it alive by bind-mounting
``/proc/self/task/<tid>/ns/net`` on ``path`` (what ``ip netns add`` does); the runtime joins it with
``linux.namespaces[{type: network, path}]``. ``remove(path)`` lazily unmounts and unlinks it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2

T = TypeVar("T")

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(result: int, what: str, path: object = None) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", str(path) if path is not None else None)


def _in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh OS thread (which may change its own netns) and return its result."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:  # re-raised in the caller
            box["error"] = error

    thread = threading.Thread(target=target, name="dockyard-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _enter(path: str | os.PathLike[str]) -> None:
    """setns() the calling thread into the namespace at ``path`` (only call from _in_thread)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_lib().setns(fd, CLONE_NEWNET), "setns", path)
    finally:
        os.close(fd)


def create(path: str | os.PathLike[str]) -> Path:
    """Create a new, empty network namespace pinned at ``path`` (which must not exist)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))

    def work() -> None:
        libc = _lib()
        _check(libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        _check(libc.mount(source, bytes(target), b"none", MS_BIND, None), "bind netns", target)

    try:
        _in_thread(work)
    except BaseException:
        try:
            target.unlink()
        except OSError:
            pass
        raise
    return target


def is_mounted_ns(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a pinned namespace (a bind mount of an nsfs inode)."""
    try:
        return os.stat(path).st_dev != os.stat(Path(path).parent).st_dev
    except OSError:
        return False


def remove(path: str | os.PathLike[str]) -> None:
    """Unpin and unlink the namespace file at ``path``; a missing file is not an error."""
    target = Path(path)
    result = _lib().umount2(bytes(target), MNT_DETACH)
    if result != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount netns: {os.strerror(err)}", str(target))
    try:
        target.unlink()
    except FileNotFoundError:
        pass


def run_in(path: str | os.PathLike[str], fn: Callable[[], T]) -> T:
    """Call ``fn`` in a thread that has joined the namespace at ``path``; return its result."""

    def work() -> T:
        _enter(path)
        return fn()

    return _in_thread(work)


def open_fd(path: str | os.PathLike[str]) -> int:
    """An O_RDONLY fd on the namespace file (for IFLA_NET_NS_FD); the caller closes it."""
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)

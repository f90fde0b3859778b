"""Process hygiene shared by every stage that ends in execve."""

from __future__ import annotations

import os
import signal
import sys

from .linux import constants as c

_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}


def reset_signals() -> None:
    """Default dispositions and an empty mask before exec.

    CPython ignores SIGPIPE and SIGXFSZ at start-up, and ignored signals survive
    execve: without this, `yes | head` would hang in the container.
    """
    for number in range(1, signal.NSIG):
        if number in _UNCATCHABLE:
            continue
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # real-time signals reserved by glibc
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def close_fds_from(first: int) -> None:
    """Close every fd >= first (close_range; falls back to closerange)."""
    os.closerange(first, _max_fd())


def close_fds_except(first: int, keep: set[int]) -> None:
    """Close every fd >= first except those in `keep`.

    A forked stage inherits every fd of its parent (a CLI's caller, or a daemon
    using the library) until execve; a container process entering through `exec`
    could otherwise reach a leaked host directory through the init (CVE-2024-21626).
    """
    start = first
    for fd in sorted(k for k in keep if k >= first):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, _max_fd())


def cloexec_fds_from(first: int) -> None:
    """Mark every inherited fd >= first close-on-exec (runc's CloseExecFrom), so that
    nothing the caller left open reaches the container (CVE-2024-21626)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    for name in names:
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the fd of the listdir itself, already closed


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 65536


def set_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(c.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def exit_status(wait_status: int) -> int:
    """Shell convention: the exit code, or 128+N for death by signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def reap_children(target: int) -> int | None:
    """Reap every exited child (a subreaper inherits orphans); return the exit status of
    `target` if it was among them, else None."""
    result = None
    while True:
        try:
            child, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return result
        if child == 0:
            return result
        if child == target:
            result = exit_status(status)


def die(message: str, code: int = 1) -> None:
    """Last resort in a forked stage: report on stderr and leave without cleanup
    handlers (never unwind into the parent's code after fork)."""
    try:
        os.write(2, f"dockyard-runtime: {message}\n".encode())
    finally:
        os._exit(code)


def flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass

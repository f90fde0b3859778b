"""OCI hooks: the state JSON on stdin, a timeout, a failure named by kind and index."""

from __future__ import annotations

import errno
import os
import select
import signal
import time

from .config import Hook
from .errors import OCIError
from .procutil import reset_signals


class HookError(OCIError):
    pass


def run_hooks(kind: str, hooks: tuple[Hook, ...], state_json: bytes) -> None:
    for index, hook in enumerate(hooks):
        run_hook(f"hooks.{kind}[{index}]", hook, state_json)


def run_hook(name: str, hook: Hook, state_json: bytes) -> None:
    """fork+execve with os primitives only: this also runs inside the container after
    pivot_root, where importing anything (subprocess's helpers) would load container files."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        _exec_hook(name, hook, read_end, write_end)
    os.close(read_end)
    pidfd = os.pidfd_open(pid)
    try:
        exited = _feed_and_wait(pidfd, write_end, state_json, hook.timeout)
        if not exited:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise HookError(f"{name}: {hook.path} timed out after {hook.timeout}s")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise HookError(f"{name}: {hook.path} failed with exit status {code}")


def _exec_hook(name: str, hook: Hook, read_end: int, write_end: int) -> None:
    """In the forked child: never returns into the runtime's code."""
    try:
        os.close(write_end)
        os.dup2(read_end, 0)
        reset_signals()
        env = dict(entry.split("=", 1) for entry in hook.env)
        os.execve(hook.path, list(hook.args) or [hook.path], env)
    except BaseException as err:
        message = err.strerror if isinstance(err, OSError) else str(err)
        os.write(2, f"{name}: {hook.path}: {message}\n".encode())
    os._exit(127)


def _feed_and_wait(pidfd: int, write_end: int, data: bytes, timeout: int | None) -> bool:
    """Write the state to the hook's stdin while waiting for it to exit, both under the
    timeout (a state larger than the pipe must not block a hook that never reads it).
    Returns False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    os.set_blocking(write_end, False)
    pending = memoryview(data)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(write_end, select.POLLOUT)
    writing = True
    try:
        while True:
            if not pending and writing:
                poller.unregister(write_end)
                os.close(write_end)
                writing = False
            wait_ms = None
            if deadline is not None:
                wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
            events = poller.poll(wait_ms)
            if not events:
                return False
            for fd, _ in events:
                if fd == pidfd:
                    return True
                try:
                    pending = pending[os.write(write_end, pending):]
                except BlockingIOError:
                    pass
                except OSError as err:
                    if err.errno != errno.EPIPE:
                        raise
                    pending = pending[:0]  # a hook need not read its stdin
    finally:
        if writing:
            os.close(write_end)

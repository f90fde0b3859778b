"""OCI hooks: the state JSON on stdin, a timeout, a failure named by kind and index."""

from __future__ import annotations

import os
import select
import signal

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
        try:
            os.dup2(read_end, 0)
            reset_signals()
            env = dict(entry.split("=", 1) for entry in hook.env)
            os.execve(hook.path, list(hook.args) or [hook.path], env)
        except OSError as err:
            os.write(2, f"{name}: {hook.path}: {err.strerror}\n".encode())
        os._exit(127)
    os.close(read_end)
    pidfd = os.pidfd_open(pid)
    try:
        try:
            os.write(write_end, state_json)
        except BrokenPipeError:
            pass  # a hook need not read its stdin
        os.close(write_end)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        timeout_ms = None if hook.timeout is None else hook.timeout * 1000
        if not poller.poll(timeout_ms):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise HookError(f"{name}: {hook.path} timed out after {hook.timeout}s")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise HookError(f"{name}: {hook.path} failed with exit status {code}")

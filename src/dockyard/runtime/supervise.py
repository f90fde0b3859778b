"""Foreground `run` and `exec`: wait for the process as its subreaper, forward
signals to it, relay a terminal, and return its exit status (128+N for signal N)."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
from collections.abc import Iterator

from .procutil import reap_children

# Every signal a user can send to the foreground runtime goes on to the container.
FORWARDED = [
    s for s in signal.Signals
    if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGTSTP,
                 signal.SIGTTIN, signal.SIGTTOU, signal.SIGSEGV, signal.SIGBUS,
                 signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP, signal.SIGSYS)
]


class SignalQueue:
    """Signals recorded by handlers and announced on a wakeup pipe, so that one
    select() waits for signals, child exits and terminal data together."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for sig in [*FORWARDED, signal.SIGCHLD]:
            signal.signal(sig, self._record)
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)

    def _record(self, number: int, frame: object) -> None:
        self.pending.append(number)

    def drain(self) -> list[int]:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 512):
                pass
        taken, self.pending = self.pending, []
        return taken


def wait_for(pid: int, queue: SignalQueue, master: int | None = None) -> int:
    """Until `pid` exits: reap every child, forward signals, copy terminal data."""
    stdin_open = master is not None
    while True:
        status = reap_children(pid)
        if status is not None:
            if master is not None:
                _drain_master(master)
            return status
        readers = [queue.read_fd]
        if master is not None:
            readers.append(master)
            if stdin_open:
                readers.append(0)
        try:
            ready, _, _ = select.select(readers, [], [], 1.0)
        except InterruptedError:
            ready = []
        for sig in queue.drain():
            if sig == signal.SIGCHLD:
                continue
            if sig == signal.SIGWINCH and master is not None:
                _copy_window_size(master)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if master is not None and master in ready:
            _copy(master, 1)
        if master is not None and 0 in ready and not _copy(0, master):
            stdin_open = False


def _copy(source: int, target: int) -> bool:
    try:
        data = os.read(source, 65536)
    except OSError as err:
        if err.errno == errno.EIO:  # pty closed
            return False
        raise
    if not data:
        return False
    while data:
        written = os.write(target, data)
        data = data[written:]
    return True


def _drain_master(master: int) -> None:
    while select.select([master], [], [], 0)[0] and _copy(master, 1):
        pass


def _copy_window_size(master: int) -> None:
    import fcntl
    import termios

    with contextlib.suppress(OSError):
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)


@contextlib.contextmanager
def console_listener() -> Iterator[tuple[str, socket.socket]]:
    """A private console socket, for a terminal relayed by the runtime itself."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="dockyard-console-")
    path = os.path.join(directory, "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(path)
        server.listen(1)
        yield path, server
    finally:
        server.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.rmdir(directory)


def receive_master(server: socket.socket) -> int:
    connection, _ = server.accept()
    with connection:
        _, fds, _, _ = socket.recv_fds(connection, 4096, 1)
    if not fds:
        raise OSError(errno.EPROTO, "console socket: no terminal received")
    return fds[0]


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

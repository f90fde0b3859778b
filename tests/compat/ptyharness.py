"""Helpers (no tests): a program under a pseudo-terminal (its controlling tty); write
keys, read until a marker, get the exit code. Used to drive the real docker CLI."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time


class PtyProcess:
    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24,
                 cols: int = 80) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def controlling_tty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                         env=env, start_new_session=True,
                                         preexec_fn=controlling_tty, close_fds=True)
        finally:
            os.close(slave)
        self.output = b""

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, marker: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{marker!r} not seen; output so far: {self.output!r}")
        return self.output

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the slave side is closed (the program exited)
            return False
        if not data:
            return False
        self.output += data
        return True

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0) and select.select([self.master], [], [], 0)[0]:
            pass
        if self.proc.poll() is None:
            self.close()
            raise AssertionError(f"still running; output: {self.output!r}")
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)

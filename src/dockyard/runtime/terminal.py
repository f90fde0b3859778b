"""Container terminals: a pty from the container's own devpts, its master sent to the
caller's console socket with SCM_RIGHTS (runc's protocol), its slave made stdio."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import termios

from .linux import constants as c


def open_pty(ptmx_path: str) -> tuple[int, int, str]:
    """Open a pty pair from the given ptmx; returns (master, slave, slave path)."""
    master = os.open(ptmx_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, c.TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, c.TIOCGPTN, b"\0\0\0\0"))[0]
    slave_path = os.path.join(os.path.dirname(ptmx_path), str(number))
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave, f"/dev/pts/{number}"


def set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        raise OSError(err.errno, f"console socket {path}: {err.strerror}") from None
    return sock


def send_master(sock: socket.socket, master: int, container_id: str) -> None:
    payload = json.dumps({"type": "terminal", "container": container_id}).encode()
    socket.send_fds(sock, [payload], [master])


def make_controlling(slave: int) -> None:
    """The slave becomes stdio and the controlling terminal of this new session."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)

"""terminal: true with --console-socket: the pty master arrives over SCM_RIGHTS."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
import termios
import time

import pytest

import oci

pytestmark = pytest.mark.root


class ConsoleSocket:
    """A listening unix socket that receives one pty master fd (runc's terminals.md)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.master = -1

    def receive(self, timeout: float = 10.0) -> int:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        assert len(fds) == 1, f"expected one fd with the message {msg!r}"
        self.master = fds[0]
        return self.master

    def read_all(self, timeout: float = 10.0) -> str:
        """Read the master until the slave side is gone (EIO) or the deadline."""
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError as e:
                if e.errno == errno.EIO:
                    break
                raise
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
        self.sock.close()


@pytest.fixture
def console(testctx):
    c = ConsoleSocket(testctx.short / "console.sock")
    yield c
    c.close()


def test_console_socket(runtime, testctx, console):
    cfg = testctx.config(terminal=True)
    cfg["process"]["consoleSize"] = {"height": 30, "width": 100}
    script = "tty; stty size; test -t 0 && test -t 1 && test -t 2 && echo all-tty; echo done"
    b = testctx.bundle(oci.sh(cfg, script))
    cid = runtime.create(b, None, "--console-socket", console.path)
    master = console.receive()
    assert os.isatty(master)
    runtime.start(cid)
    out = console.read_all()
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("/dev/pts/"), out
    assert lines[1] == "30 100", out
    assert lines[2:] == ["all-tty", "done"], out
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_console_input_and_resize(runtime, testctx, console):
    cfg = testctx.config(terminal=True)
    b = testctx.bundle(oci.sh(cfg, "read line; echo got:$line; stty size"))
    cid = runtime.create(b, None, "--console-socket", console.path)
    master = console.receive()
    # resize from the outside, as an engine does on SIGWINCH
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    runtime.start(cid)
    os.write(master, b"hello\n")
    out = console.read_all()
    assert "got:hello" in out
    assert "40 120" in out
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_dev_console_is_the_pty(runtime, testctx, console):
    cfg = testctx.config(terminal=True)
    b = testctx.bundle(oci.sh(cfg, "stat -c '%t %F' /dev/console; echo hi > /dev/console"))
    cid = runtime.create(b, None, "--console-socket", console.path)
    console.receive()
    runtime.start(cid)
    out = console.read_all()
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    assert lines[0] == "88 character special file", out  # pts major 136 = 0x88
    assert lines[1] == "hi"
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_exec_tty(runtime, testctx, console):
    b = testctx.bundle(oci.sh(testctx.config(), "mkfifo /tmp/go; echo ready; read x < /tmp/go"))
    cid = runtime.create(b)
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    # with --tty, the console socket is how a detached exec hands over its terminal
    flags = ["--tty", "--detach", "--console-socket", console.path]
    p = runtime.popen("exec", *flags, cid, "sh", "-c", "tty; echo exec-done")
    console.receive()
    assert p.wait(timeout=10) == 0, p.stderr.read()
    out = console.read_all()
    assert "/dev/pts/" in out and "exec-done" in out, out
    with open(b / "rootfs/tmp/go", "w") as f:
        f.write("go\n")
    # (here the VM's pid 1 reaps the exec'd orphan lazily: the ns takes ~1s to die)
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_no_terminal_means_no_ctty(runtime, config):
    out = runtime.sh_ok("tty; true", config())
    assert out.strip() == "not a tty"

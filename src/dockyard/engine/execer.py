"""The exec helper: ``python -I -m dockyard.engine.execer --runtime-root R --id C --fd N``.

    dockyardd --subprocess--> execer (single-threaded, subreaper)
                                └─ runtime exec: joiner --fork--> process (in the container)

The daemon never forks while its threads run, and the runtime's exec forks twice; so
one short-lived helper per exec does it. It holds the process's stdio (pipes, or the
pty master received over a console socket when the exec has a TTY), relays it to the
daemon over the socket inherited as fd N, waits for the process (it is the process's
reaper: the joiner exits and the process is reparented to us, a subreaper) and reports
its exit code, then exits.

Protocol on the socket: frames of an 8-byte header ``[kind, 0, 0, 0, len (u32 BE)]``
followed by ``len`` bytes, as Docker's stdcopy framing, with more kinds:

    daemon -> execer   START {"process": <OCI process>}   (first frame, once)
                       STDIN bytes; CLOSE_STDIN; RESIZE {"height", "width"}
    execer -> daemon   PID {"pid"} | ERROR {"message"}    (answer to START)
                       STDOUT / STDERR bytes (STDOUT only with a TTY)
                       EXIT {"exit_code"}                  (last frame, output drained)

If the daemon goes away the process keeps running; its output is discarded.
"""

from __future__ import annotations

import json
import os
import struct
import sys

STDIN, STDOUT, STDERR = 0, 1, 2
START, PID, ERROR, EXIT, RESIZE, CLOSE_STDIN = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
HEADER = struct.Struct(">B3xI")
MAX_FRAME = 1 << 24
DRAIN_SECONDS = 2.0  # output still held by a process left in the background


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def json_frame(kind: int, value: object) -> bytes:
    return frame(kind, json.dumps(value).encode())


class FrameParser:
    """Incremental: ``feed(bytes)`` returns the complete ``(kind, payload)`` frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buf)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes")
            if len(self.buf) < HEADER.size + size:
                break
            out.append((kind, bytes(self.buf[HEADER.size:HEADER.size + size])))
            del self.buf[:HEADER.size + size]
        return out


def exit_code_for_error(message: str) -> int:
    """As a failed ``docker run``: 127 for a missing program, 126 otherwise."""
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return 127
    return 126


def _parse(argv: list[str]) -> dict:
    import argparse

    p = argparse.ArgumentParser(prog="dockyard-execer")
    p.add_argument("--runtime-root", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--fd", type=int, required=True)
    return vars(p.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    import signal
    import socket

    args = _parse(sys.argv[1:] if argv is None else argv)
    ctl = socket.socket(fileno=args["fd"])
    ctl.setblocking(True)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    from dockyard.runtime.procutil import set_subreaper

    # Before the exec: the process is reparented to us when the runtime's joiner exits.
    set_subreaper()
    execer = Execer(args["runtime_root"], args["id"], ctl)
    try:
        start = execer.read_start()
        execer.launch(start)
    except BaseException as err:  # report every failure, then go
        msg = getattr(err, "message", None) or str(err) or type(err).__name__
        execer.send(json_frame(ERROR, {"message": msg}))
        os._exit(1)
    execer.send(json_frame(PID, {"pid": execer.pid}))
    try:
        code = execer.serve()
    except BaseException as err:
        execer.send(json_frame(ERROR, {"message": f"execer: {err}"}))
        code = 255
    execer.send(json_frame(EXIT, {"exit_code": code}))
    try:
        ctl.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    ctl.close()
    os._exit(0)


class Execer:
    def __init__(self, runtime_root: str, container_id: str, ctl) -> None:
        self.runtime_root = runtime_root
        self.id = container_id
        self.ctl = ctl
        self.ctl_alive = True
        self.parser = FrameParser()
        self.pid = 0
        self.stdin_w: int | None = None
        self.master: int | None = None
        self.outputs: dict[int, int] = {}  # fd -> STDOUT / STDERR
        self.pending_in = b""
        self.close_stdin_after = False

    # --- daemon side -----------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if not self.ctl_alive:
            return
        try:
            self.ctl.sendall(data)
        except OSError:
            self.ctl_alive = False  # the daemon went away: keep running, discard output

    def read_start(self) -> dict:
        while True:
            data = self.ctl.recv(65536)
            if not data:
                raise RuntimeError("the daemon closed the exec socket before START")
            frames = self.parser.feed(data)
            if frames:
                kind, payload = frames[0]
                if kind != START:
                    raise RuntimeError(f"expected START, got frame kind {kind}")
                self._early = frames[1:]
                return json.loads(payload)

    # --- start -----------------------------------------------------------------------

    def launch(self, start: dict) -> None:
        import shutil
        import socket
        import tempfile

        from dockyard.runtime.api import Container
        from dockyard.runtime.config import parse_process

        process = parse_process(start["process"])
        container = Container(self.runtime_root, self.id)
        if process.terminal:
            # Bound relative to a private directory: sun_path is only 108 bytes long.
            tmp = tempfile.mkdtemp(prefix="dockyard-exec-")
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                os.chdir(tmp)
                console.bind("console.sock")
                console.listen(1)
                self.pid = container.exec(process, console_socket="console.sock")
                console.settimeout(10)
                conn, _ = console.accept()
                with conn:
                    _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
                self.master = fds[0]
                self.outputs[self.master] = STDOUT
            finally:
                console.close()
                os.chdir("/")
                shutil.rmtree(tmp, ignore_errors=True)
            return
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        child_ends = []
        try:
            if start.get("stdin"):
                r, w = os.pipe()
                os.dup2(r, 0)
                child_ends.append(r)
                self.stdin_w = w
            for fd, kind in ((1, STDOUT), (2, STDERR)):
                r, w = os.pipe()
                os.dup2(w, fd)
                child_ends.append(w)
                self.outputs[r] = kind
            # The runtime's stages inherit 0, 1 and 2: the process's stdio.
            self.pid = container.exec(process)
        finally:
            for fd, orig in zip((0, 1, 2), saved, strict=True):
                os.dup2(orig, fd)
                os.close(orig)
            for fd in child_ends:
                os.close(fd)

    # --- run -------------------------------------------------------------------------

    def serve(self) -> int:
        import selectors
        import time

        sel = selectors.DefaultSelector()
        pidfd = os.pidfd_open(self.pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        # The socket stays blocking (sends wait for the daemon: back-pressure);
        # reads never block (MSG_DONTWAIT).
        sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        for fd in self.outputs:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, "out")
        if self.stdin_w is not None:
            os.set_blocking(self.stdin_w, False)
        for kind, payload in getattr(self, "_early", []):
            self._control(sel, kind, payload)
        status = None
        while status is None:
            for key, _ in sel.select(timeout=0.05 if self.pending_in else None):
                if key.data == "exit":
                    status = self._reap()
                elif key.data == "ctl":
                    self._ctl_input(sel)
                elif key.data == "out":
                    self._pump(sel, key.fd)
            if self.pending_in:
                self._flush_stdin()
        sel.unregister(pidfd)
        os.close(pidfd)
        self._close_stdin()
        # Pipes reach EOF once every holder exited; a pty master reads EIO when the
        # slave has no more holders. A process left in the background may hold them.
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.outputs and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if key.data == "out":
                    self._pump(sel, key.fd)
                elif key.data == "ctl":
                    self._ctl_input(sel)
        return status

    def _reap(self) -> int | None:
        from dockyard.runtime.procutil import reap_children

        return reap_children(self.pid)

    def _ctl_input(self, sel) -> None:
        import socket

        try:
            data = self.ctl.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            sel.unregister(self.ctl)
            self.ctl_alive = False
            self.close_stdin_after = True
            self._flush_stdin()
            return
        try:
            frames = self.parser.feed(data)
        except ValueError:
            frames = []
        for kind, payload in frames:
            self._control(sel, kind, payload)

    def _control(self, sel, kind: int, payload: bytes) -> None:
        if kind == STDIN:
            self.pending_in += payload
            self._flush_stdin()
        elif kind == CLOSE_STDIN:
            self.close_stdin_after = True
            self._flush_stdin()
        elif kind == RESIZE and self.master is not None:
            from dockyard.runtime.terminal import set_size

            try:
                size = json.loads(payload)
                set_size(self.master, int(size["height"]), int(size["width"]))
            except (OSError, ValueError, TypeError, KeyError):
                pass

    def _flush_stdin(self) -> None:
        target = self.master if self.master is not None else self.stdin_w
        while self.pending_in and target is not None:
            try:
                n = os.write(target, self.pending_in)
            except BlockingIOError:
                return  # retried from the loop; output keeps flowing meanwhile
            except OSError:
                self.pending_in = b""
                break
            self.pending_in = self.pending_in[n:]
        if target is None:
            self.pending_in = b""
        if self.close_stdin_after and not self.pending_in:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None

    def _pump(self, sel, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO from a pty master whose slave is closed
        if not data:
            sel.unregister(fd)
            self.outputs.pop(fd, None)
            os.close(fd)
            if fd == self.master:
                self.master = None
            return
        self.send(frame(self.outputs[fd], data))


if __name__ == "__main__":
    sys.exit(main())

"""The per-container shim: ``python -I -m dockyard.engine.shim --id ... --state-dir ...``.

    dockyardd --spawn--> shim (launcher half) --fork--> shim (setsid, subreaper)
                                                          └─ runtime create/start ─ init

The launcher half forks once and exits, so the shim is nobody's child and survives
the daemon. The shim creates and starts the container with the runtime library,
reports ``{"pid": N}`` (or ``{"error": ...}``) on its stdout pipe and closes it; then
it copies the container's output to the json-file log and to attached clients,
forwards attached stdin, and reaps. When the init exits it drains the output,
deletes the runtime container, writes ``exit.json`` atomically and exits.

Files in the state dir (``<exec-root>/containers/<id>/``): ``shim.json`` (shim pid
and start time, init pid), ``attach.sock``, ``exit.json``.

Attach protocol on attach.sock: the client sends one JSON line
``{"stdin": bool, "stdout": bool, "stderr": bool}``; the shim then sends output
as Docker's 8-byte framed records (stream 1 or 2, big-endian length; raw bytes
when the container has a TTY) and forwards every byte the client sends to the
container's stdin. A half-close ends stdin when the container was created with
StdinOnce. ``{"resize": [height, width]}`` resizes the TTY and closes.
"""

from __future__ import annotations

import json
import os
import sys

EXIT_FILE = "exit.json"
SHIM_FILE = "shim.json"
ATTACH_SOCK = "attach.sock"


def write_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as file:
        json.dump(data, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def connect_attach(path: str):
    """A socket connected to a shim's attach.sock, whatever the length of the path."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dirfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{os.path.basename(path)}")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dirfd)
    return sock


def _parse(argv: list[str]) -> dict:
    import argparse

    p = argparse.ArgumentParser(prog="dockyard-shim")
    p.add_argument("--id", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--runtime-root", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--log-path", default="")
    p.add_argument("--log-max-size", type=int, default=-1)
    p.add_argument("--log-max-file", type=int, default=1)
    p.add_argument("--tty", action="store_true")
    p.add_argument("--stdin", action="store_true")
    p.add_argument("--stdin-once", action="store_true")
    return vars(p.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    report = os.dup(1)
    # Our own stdio: nothing; errors go to the report pipe.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    if os.fork() != 0:
        os._exit(0)  # the launcher half: the daemon waits for this one
    os.setsid()
    try:
        shim = Shim(args)
        shim.launch()
    except BaseException as err:  # report every failure, then go
        msg = getattr(err, "message", None) or str(err) or type(err).__name__
        _report(report, {"error": msg})
        os._exit(1)
    _report(report, {"pid": shim.pid})
    try:
        code = shim.serve()
    except BaseException as err:
        shim.record_exit(255, error=f"shim: {err}")
        code = 1
    os._exit(code)


def _report(fd: int, data: dict) -> None:
    try:
        os.write(fd, json.dumps(data).encode() + b"\n")
    finally:
        os.close(fd)


class Shim:
    def __init__(self, args: dict) -> None:
        self.args = args
        self.id = args["id"]
        self.state_dir = args["state_dir"]
        self.pid = 0
        self.stdin_w: int | None = None
        self.outputs: dict[int, str] = {}  # fd -> stream name
        self.master: int | None = None
        self.clients: dict[int, dict] = {}
        self.pending_in = b""  # attached stdin the container has not read yet
        self.paused: list[int] = []  # clients not read from until pending_in drains
        self.close_stdin_after = False
        self.log = None

    # --- start ---------------------------------------------------------------------

    def launch(self) -> None:
        import socket

        from dockyard.runtime.api import Container, CreateOptions, create
        from dockyard.runtime.procutil import set_subreaper

        from .jsonlog import JSONFileWriter

        set_subreaper()
        os.makedirs(self.state_dir, exist_ok=True)
        # Socket paths are bound relative to the state dir: a full one may exceed
        # the 108 bytes of sun_path (ids are 64 characters).
        os.chdir(self.state_dir)
        # The runtime's warnings go to the shim's log, not into the container's stderr.
        sys.stderr = open("shim.log", "a", buffering=1)  # noqa: SIM115
        for name in (EXIT_FILE, ATTACH_SOCK):
            try:
                os.unlink(os.path.join(self.state_dir, name))
            except FileNotFoundError:
                pass
        if self.args["log_path"]:
            self.log = JSONFileWriter(self.args["log_path"], self.args["log_max_size"],
                                      self.args["log_max_file"])
        options = CreateOptions()
        console = None
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        child_ends = []
        try:
            if self.args["tty"]:
                console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                path = "console.sock"
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                console.bind(path)
                console.listen(1)
                options.console_socket = path
            else:
                if self.args["stdin"]:
                    r, w = os.pipe()
                    os.dup2(r, 0)
                    child_ends.append(r)
                    self.stdin_w = w
                for fd, stream in ((1, "stdout"), (2, "stderr")):
                    r, w = os.pipe()
                    os.dup2(w, fd)
                    child_ends.append(w)
                    self.outputs[r] = stream
            # The runtime's stages inherit 0, 1 and 2: the container's stdio.
            state = create(self.args["runtime_root"], self.id, self.args["bundle"], options)
        finally:
            for fd, orig in zip((0, 1, 2), saved, strict=True):
                os.dup2(orig, fd)
                os.close(orig)
            for fd in child_ends:
                os.close(fd)
        self.pid = state.pid
        try:
            self._after_create(console, options)
        except BaseException:
            # Never leave a created container (an init blocked on its fifo) behind.
            try:
                Container(self.args["runtime_root"], self.id).delete(force=True)
            except Exception:
                pass
            raise

    def _after_create(self, console, options) -> None:
        import socket

        from dockyard.runtime.api import Container

        if console is not None:
            conn, _ = console.accept()
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            conn.close()
            console.close()
            os.unlink(options.console_socket)
            self.master = fds[0]
            self.outputs[self.master] = "stdout"
        from dockyard.runtime.state import process_start_time

        from .jsonlog import rfc3339nano

        self.attach = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.attach.bind(ATTACH_SOCK)
        self.attach.listen(16)
        # Taken before the user program runs, so StartedAt <= FinishedAt always.
        started_at = rfc3339nano()
        Container(self.args["runtime_root"], self.id).start()
        write_atomic(os.path.join(self.state_dir, SHIM_FILE), {
            "shim_pid": os.getpid(), "shim_start": process_start_time(os.getpid()),
            "pid": self.pid, "started_at": started_at})

    # --- run -----------------------------------------------------------------------

    def serve(self) -> int:
        import selectors
        import signal

        sel = selectors.DefaultSelector()
        pidfd = os.pidfd_open(self.pid)
        sel.register(pidfd, selectors.EVENT_READ, "init")
        sel.register(self.attach, selectors.EVENT_READ, "listen")
        for fd in self.outputs:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, "output")
        if self.stdin_w is not None:
            os.set_blocking(self.stdin_w, False)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        status = None
        while status is None:
            if self.pending_in:
                self._flush_stdin(sel)
            for key, _ in sel.select(timeout=0.05 if self.pending_in else None):
                what = key.data
                if what == "init":
                    status = self._reap()
                elif what == "listen":
                    self._accept(sel)
                elif what == "output":
                    self._pump(sel, key.fd)
                elif what == "client":
                    self._client_input(sel, key.fd)
        # pid 1 is gone, so the kernel killed the rest of its pid namespace: the pipes
        # reach EOF soon, unless a process outside still holds them.
        import time

        deadline = time.monotonic() + 2
        while self.outputs and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if key.data == "output":
                    self._pump(sel, key.fd)
        oom = self._oom_killed()
        try:
            from dockyard.runtime.api import Container

            Container(self.args["runtime_root"], self.id).delete(force=True)
        except Exception:
            pass
        if self.log is not None:
            self.log.close()
        self.record_exit(status, oom=oom)
        for fd in list(self.clients):
            self.clients[fd]["sock"].close()
        return 0

    def _reap(self) -> int | None:
        from dockyard.runtime.procutil import reap_children

        return reap_children(self.pid)

    def _accept(self, sel) -> None:
        import selectors

        sock, _ = self.attach.accept()
        sock.setblocking(True)
        sock.settimeout(5)
        header = b""
        try:
            while not header.endswith(b"\n") and len(header) < 4096:
                chunk = sock.recv(1)
                if not chunk:
                    break
                header += chunk
            want = json.loads(header or b"{}")
        except (OSError, ValueError):
            sock.close()
            return
        if "resize" in want:
            # {"resize": [height, width]}: a control request, answered by closing.
            if self.master is not None:
                from dockyard.runtime.terminal import set_size

                try:
                    set_size(self.master, int(want["resize"][0]), int(want["resize"][1]))
                except (OSError, ValueError, TypeError, IndexError):
                    pass
            sock.close()
            return
        sock.settimeout(None)
        sock.setblocking(False)
        self.clients[sock.fileno()] = {"sock": sock, "want": want}
        if want.get("stdin") and (self.stdin_w is not None or self.master is not None):
            sel.register(sock, selectors.EVENT_READ, "client")

    def _client_input(self, sel, fd: int) -> None:
        client = self.clients.get(fd)
        if client is None:
            return
        try:
            data = client["sock"].recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            sel.unregister(fd)
            if self.args["stdin_once"]:
                self.close_stdin_after = True
                self._flush_stdin(sel)
            if not client["want"].get("stdout") and not client["want"].get("stderr"):
                self._drop(fd)
            return
        self.pending_in += data
        self._flush_stdin(sel)
        if self.pending_in:
            # The container is not reading: stop reading this client until it does
            # (never block the shim, which must keep pumping output).
            sel.unregister(fd)
            self.paused.append(fd)

    def _flush_stdin(self, sel) -> None:
        import selectors

        target = self.master if self.master is not None else self.stdin_w
        while self.pending_in and target is not None:
            try:
                n = os.write(target, self.pending_in)
            except BlockingIOError:
                return
            except OSError:
                break
            self.pending_in = self.pending_in[n:]
        self.pending_in = b""
        for fd in self.paused:
            if fd in self.clients:
                sel.register(self.clients[fd]["sock"], selectors.EVENT_READ, "client")
        self.paused = []
        if self.close_stdin_after and self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            client["sock"].close()

    def _pump(self, sel, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO from a pty master whose slave is closed
        stream = self.outputs.get(fd, "stdout")
        if not data:
            sel.unregister(fd)
            self.outputs.pop(fd, None)
            if fd != self.master:
                os.close(fd)
            return
        if self.log is not None:
            self.log.write(stream, data)
        # With a TTY there is one stream and no framing, as Docker's attach.
        frame = b"" if self.master is not None else (
            bytes([1 if stream == "stdout" else 2, 0, 0, 0]) + len(data).to_bytes(4, "big"))
        for cfd, client in list(self.clients.items()):
            if not client["want"].get(stream):
                continue
            try:
                client["sock"].setblocking(True)
                client["sock"].settimeout(5)  # a stuck client is dropped, not waited for
                client["sock"].sendall(frame + data)
                client["sock"].setblocking(False)
            except OSError:
                try:
                    sel.unregister(cfd)
                except (KeyError, ValueError):
                    pass
                self._drop(cfd)

    def _oom_killed(self) -> bool:
        try:
            with open(os.path.join(self.args["runtime_root"], self.id, "state.json")) as f:
                paths = json.load(f).get("cgroup_paths", {})
        except (OSError, ValueError):
            return False
        candidates = []
        if "memory" in paths:
            candidates.append(os.path.join(paths["memory"], "memory.oom_control"))
        if "" in paths:
            candidates.append(os.path.join(paths[""], "memory.events"))
        for path in candidates:
            try:
                with open(path) as f:
                    for line in f:
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
            except (OSError, ValueError):
                continue
        return False

    def record_exit(self, code: int, oom: bool = False, error: str = "") -> None:
        from .jsonlog import rfc3339nano

        write_atomic(os.path.join(self.state_dir, EXIT_FILE), {
            "exit_code": code, "oom_killed": oom, "finished_at": rfc3339nano(),
            "error": error})
        try:
            os.unlink(os.path.join(self.state_dir, ATTACH_SOCK))
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())

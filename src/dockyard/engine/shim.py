"""The per-container shim, forked by the shim fork server (shimserver.py) or run as
``python -I -m dockyard.engine.shim --id ... --state-dir ...``.

    dockyardd --request--> shim server --fork--> A --fork--> shim (setsid, subreaper)
                                                  helper (runtime create/start) ─┘
                                                  init (reparented to the shim) ─┘

A exits at once, so the shim is nobody's child and survives the daemon and the server.
The runtime's create and start run in a short-lived helper child, so that the shim's
own memory stays what serving needs (it shares the rest copy-on-write with the
server); the init is reparented to the shim, a subreaper. The shim reports
``{"pid": N}`` (or ``{"error": ...}``) on the report fd and closes it; then it copies
the container's output to the json-file log and to attached clients, forwards
attached stdin, and reaps. When the init exits it drains the output, deletes the
runtime container, writes ``exit.json`` atomically and exits.

Files in the state dir (``<exec-root>/containers/<id>/``): ``shim.json`` (shim pid
and start time, init pid), ``attach.sock``, ``exit.json``.

Attach protocol on attach.sock: the client sends one JSON line
``{"stdin": bool, "stdout": bool, "stderr": bool}`` (with ``"log_offset": true`` the
shim first answers one JSON line ``{"log_size": N, "log_inode": I}``: the log file's
size when the client joined, so the client can read the log up to there and take the
rest from the socket, each byte once); the shim then sends output
as Docker's 8-byte framed records (stream 1 or 2, big-endian length; raw bytes
when the container has a TTY) and forwards every byte the client sends to the
container's stdin. A half-close ends stdin when the container was created with
StdinOnce. ``{"resize": [height, width]}`` resizes the TTY and closes.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_FILE = "exit.json"
SHIM_FILE = "shim.json"
ATTACH_SOCK = "attach.sock"
CONSOLE_SOCK = "console.sock"


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


DEFAULTS = {"log_path": "", "log_max_size": -1, "log_max_file": 1, "tty": False,
            "stdin": False, "stdin_once": False}


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    report = os.dup(1)
    if os.fork() != 0:
        os._exit(0)  # the launcher half: the daemon waits for this one
    run_forked(args, report)


def run_forked(args: dict, report: int) -> NoReturn:
    """The shim proper, in a process nobody waits for (forked by main() or by the
    fork server, shimserver.py); reports on `report`, then serves until the init exits."""
    args = {**DEFAULTS, **args}
    # Our own stdio: nothing; errors go to the report pipe.
    null = os.open(os.devnull, os.O_RDWR)  # may be 0: the fork server's fd 0 is closed
    for fd in (0, 1, 2):
        if fd == null:
            os.set_inheritable(fd, True)  # what dup2 does: the container inherits 0-2
        else:
            os.dup2(null, fd)
    if null > 2:
        os.close(null)
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


PIPE_SIZE = 1 << 20  # Linux's default pipe-max-size: fewer, larger reads of output
GATHER = 256 << 10  # a read shorter than this from a busy pipe: wait GATHER_WAIT
GATHER_WAIT = 0.001


def _grow_pipe(fd: int) -> None:
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # a lower /proc/sys/fs/pipe-max-size: the default size works too


class ShimError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _helper(args: dict, console, stdio: list[int | None], report) -> NoReturn:
    """The runtime's create and start, in the shim's short-lived child: reports
    ``{"pid", "started_at"}`` (with the pty master attached) or ``{"error"}``."""
    import socket

    from dockyard.runtime.api import Container, CreateOptions, create

    from .jsonlog import rfc3339nano

    result: dict = {}
    master: list[int] = []
    created = False
    try:
        # The runtime's stages inherit 0, 1 and 2: the container's stdio.
        for fd, end in enumerate(stdio):
            if end is not None:
                os.dup2(end, fd)
                os.close(end)
        options = CreateOptions(console_socket=CONSOLE_SOCK if console is not None else None)
        state = create(args["runtime_root"], args["id"], args["bundle"], options)
        created = True
        if console is not None:
            conn, _ = console.accept()
            _msg, master, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            conn.close()
        # Taken before the user program runs, so StartedAt <= FinishedAt always.
        started_at = rfc3339nano()
        Container(args["runtime_root"], args["id"]).start()
        result = {"pid": state.pid, "started_at": started_at}
    except BaseException as err:
        msg = getattr(err, "message", None) or str(err) or type(err).__name__
        result = {"error": msg}
        master = []
        if created:
            # Never leave a created container (an init blocked on its fifo) behind.
            try:
                Container(args["runtime_root"], args["id"]).delete(force=True)
            except Exception:
                pass
    try:
        if master:
            socket.send_fds(report, [json.dumps(result).encode()], master)
        else:
            report.sendall(json.dumps(result).encode())
    finally:
        os._exit(0)


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

        from dockyard.runtime.procutil import set_subreaper

        from .jsonlog import JSONFileWriter

        set_subreaper()
        os.makedirs(self.state_dir, exist_ok=True)
        # Socket paths are bound relative to the state dir: a full one may exceed
        # the 108 bytes of sun_path (ids are 64 characters).
        os.chdir(self.state_dir)
        # The runtime's warnings go to the shim's log, not into the container's stderr.
        sys.stderr = open("shim.log", "a", buffering=1)  # noqa: SIM115
        for name in (EXIT_FILE, ATTACH_SOCK, CONSOLE_SOCK):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        if self.args["log_path"]:
            self.log = JSONFileWriter(self.args["log_path"], self.args["log_max_size"],
                                      self.args["log_max_file"])
        console = None
        stdio: list[int | None] = [None, None, None]  # the container's 0, 1, 2
        if self.args["tty"]:
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.bind(CONSOLE_SOCK)
            console.listen(1)
        else:
            if self.args["stdin"]:
                r, w = os.pipe()
                stdio[0] = r
                self.stdin_w = w
            for fd in (1, 2):
                r, w = os.pipe()
                _grow_pipe(r)
                stdio[fd] = w
                self.outputs[r] = "stdout" if fd == 1 else "stderr"
        self.attach = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.attach.bind(ATTACH_SOCK)
        self.attach.listen(16)
        # The runtime's create and start run in a helper child that exits: the shim
        # itself never touches (so never copies) the fork server's runtime modules,
        # and keeps only what serving the container needs. The init is reparented to
        # us, the subreaper, when the runtime's intermediate process exits.
        ours, theirs = socket.socketpair()
        helper = os.fork()
        if helper == 0:
            ours.close()
            self.attach.close()
            _helper(self.args, console, stdio, theirs)
        theirs.close()
        for fd in stdio:
            if fd is not None:
                os.close(fd)
        if console is not None:
            console.close()
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ours, 1 << 16, 1)
        finally:
            ours.close()
            os.waitpid(helper, 0)
            try:
                os.unlink(CONSOLE_SOCK)
            except FileNotFoundError:
                pass
        try:
            result = json.loads(msg)
        except ValueError:
            result = {"error": "the runtime helper exited without a report"}
        if "error" in result:
            for fd in fds:
                os.close(fd)
            raise ShimError(result["error"])
        self.pid = result["pid"]
        if fds:
            self.master = fds[0]
            self.outputs[self.master] = "stdout"
        from dockyard.runtime.state import process_start_time

        write_atomic(os.path.join(self.state_dir, SHIM_FILE), {
            "shim_pid": os.getpid(), "shim_start": process_start_time(os.getpid()),
            "pid": self.pid, "started_at": result["started_at"]})

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
        import time

        while status is None:
            if self.pending_in:
                self._flush_stdin(sel)
            trickle = False
            for key, _ in sel.select(timeout=0.05 if self.pending_in else None):
                what = key.data
                if what == "init":
                    status = self._reap()
                elif what == "listen":
                    self._accept(sel)
                elif what == "output":
                    n = self._pump(sel, key.fd)
                    trickle |= 0 < n < GATHER and key.fd != self.master
                elif what == "client":
                    self._client_input(sel, key.fd)
            if trickle and status is None:
                # A busy writer fills the pipe a few KiB per write: woken per write, the
                # shim would spend its time on wake-ups, not on the data. A moment lets
                # it gather (not for a pty, which reads at most 4 KiB at a time).
                time.sleep(GATHER_WAIT)
        # pid 1 is gone, so the kernel killed the rest of its pid namespace: the pipes
        # reach EOF soon, unless a process outside still holds them.
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
        if want.get("log_offset"):
            # Where the log stands: this client gets all output pumped from now on, so
            # the caller reads the log up to here (then the output the log still holds
            # back as a partial line, sent at once) and never a byte twice or not at all.
            reply: dict = {"log_size": -1, "log_inode": 0}
            held = b""
            if self.log is not None:
                reply = {"log_size": self.log.size,
                         "log_inode": os.fstat(self.log.file.fileno()).st_ino}
                for stream, data in self.log.partial.items():
                    if want.get(stream):
                        held += self._framed(stream, data)
            try:
                sock.sendall(json.dumps(reply).encode() + b"\n" + held)
            except OSError:
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

    def _pump(self, sel, fd: int) -> int:
        """Copy what `fd` has to the log and the clients; the bytes read."""
        try:
            data = os.read(fd, PIPE_SIZE)
        except BlockingIOError:
            return 0
        except OSError:
            data = b""  # EIO from a pty master whose slave is closed
        stream = self.outputs.get(fd, "stdout")
        if not data:
            sel.unregister(fd)
            self.outputs.pop(fd, None)
            if fd != self.master:
                os.close(fd)
            return 0
        if self.log is not None:
            self.log.write(stream, data)
        framed = None
        for cfd, client in list(self.clients.items()):
            if not client["want"].get(stream):
                continue
            try:
                client["sock"].setblocking(True)
                client["sock"].settimeout(5)  # a stuck client is dropped, not waited for
                if framed is None:
                    framed = self._framed(stream, data)
                client["sock"].sendall(framed)
                client["sock"].setblocking(False)
            except OSError:
                try:
                    sel.unregister(cfd)
                except (KeyError, ValueError):
                    pass
                self._drop(cfd)
        return len(data)

    def _framed(self, stream: str, data: bytes) -> bytes:
        # With a TTY there is one stream and no framing, as Docker's attach.
        if self.master is not None:
            return data
        return bytes([1 if stream == "stdout" else 2, 0, 0, 0]) + len(data).to_bytes(4, "big") \
            + data

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

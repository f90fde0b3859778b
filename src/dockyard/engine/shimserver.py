"""The shim fork server: shims are forked from one resident process, not exec'd.

    dockyardd --control (SOCK_SEQPACKET)--> shim server --fork--> A --fork--> shim B
                                                                   (A exits: B is nobody's child)

A shim started as ``python -I -m dockyard.engine.shim`` pays an interpreter start and
the imports of the runtime library (about 50 ms) and holds about 9 MiB of private
memory. The server imports all of that once, freezes the garbage collector's view of
it (``gc.freeze``: a child's collections never write to those objects, so their pages
stay shared copy-on-write) and forks per container; each shim then owns only what it
writes. A forked shim is the same shim as an exec'd one (shim.run_forked): it setsids,
outlives the daemon and the server, and is re-adopted from its state dir.

Protocol: the daemon sends one datagram per container, the shim's arguments as JSON
(shim.py's option names) with one fd attached (SCM_RIGHTS): the write end on which the
shim reports ``{"pid": N}`` or ``{"error": ...}`` and which it then closes. EOF on the
control socket (the daemon closed it or died) ends the server; shims it forked live on.

The server is single-threaded (fork is safe) and is started with subprocess (fork+exec
at once), so the daemon itself never forks while its threads run.
"""

from __future__ import annotations

import json
import os
import socket
import threading

REPORT_TIMEOUT = 60.0


def _preload() -> None:
    """Import what a shim and the runtime's create run, here once rather than in every
    shim: all of dockyard.runtime (it imports much lazily: cgroups, seccomp) but its
    command line, and what those import on first use."""
    import importlib
    import pkgutil

    import dockyard.runtime

    for info in pkgutil.walk_packages(dockyard.runtime.__path__, "dockyard.runtime."):
        if info.name.rsplit(".", 1)[-1] in ("cli", "cliargs", "__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:
            pass  # an optional part; the shim imports it (or fails) when it needs it
    for name in ("fcntl", "selectors", "pyseccomp", "pathlib", "shutil", "tempfile",
                 "hashlib"):
        try:
            importlib.import_module(name)
        except Exception:
            pass


def serve(control_fd: int = 0) -> int:
    import gc
    import signal

    gc.disable()
    _preload()
    from . import jsonlog, shim  # noqa: F401

    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    ctl = socket.socket(fileno=control_fd)
    gc.collect()
    gc.freeze()
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 16, 1)
        except InterruptedError:
            continue
        except OSError:
            return 1
        if not msg:
            return 0  # the daemon is gone
        if not fds:
            continue
        report = fds[0]
        for extra in fds[1:]:
            os.close(extra)
        try:
            args = json.loads(msg)
        except ValueError:
            os.close(report)
            continue
        pid = os.fork()
        if pid == 0:
            try:
                ctl.close()
                if os.fork() != 0:
                    os._exit(0)
                gc.enable()
                shim.run_forked(args, report)
            finally:
                os._exit(1)
        os.close(report)
        while True:
            try:
                os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break


class ShimServer:
    """The daemon's handle on its fork server: started on first use, restarted if it
    died, stopped by close() (or by the daemon's death: EOF on the control socket)."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._proc = None
        self._ctl: socket.socket | None = None

    def start(self) -> None:
        """Start the server now (it is started on first use otherwise)."""
        self._control()

    def _control(self) -> socket.socket:
        import subprocess

        with self._lock:
            if self._proc is not None and self._proc.poll() is None and self._ctl is not None:
                return self._ctl
            self._stop_locked()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._proc = subprocess.Popen(
                    [self.python, "-I", "-m", "dockyard.engine.shimserver"],
                    stdin=theirs.fileno(), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, close_fds=True, cwd="/",
                    start_new_session=True)
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            self._ctl = ours
            return ours

    def launch(self, args: dict, timeout: float = REPORT_TIMEOUT) -> bytes:
        """Fork a shim with ``args``; its report line (b"" if it gave none)."""
        msg = json.dumps(args).encode()
        for attempt in (0, 1):
            ours, theirs = socket.socketpair()
            try:
                ctl = self._control()
                try:
                    socket.send_fds(ctl, [msg], [theirs.fileno()])
                except OSError:
                    if attempt:
                        raise
                    with self._lock:
                        self._stop_locked()
                    continue
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            with ours:
                ours.settimeout(timeout)
                out = b""
                while chunk := ours.recv(4096):
                    out += chunk
                return out
        return b""

    def _stop_locked(self) -> None:
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            import subprocess

            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._stop_locked()


if __name__ == "__main__":
    raise SystemExit(serve())

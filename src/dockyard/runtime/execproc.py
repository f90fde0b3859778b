"""`exec`: a new process inside a running container.

    caller --fork--> joiner (setns into every namespace) --fork--> process

setns(CLONE_NEWPID) only moves children, hence the second fork. The joiner is
made non-dumpable before it enters anything, so that the container cannot open
/proc/<pid>/exe of the host interpreter while we are inside (CVE-2019-5736).
The process reports failures over the sync socket, which is close-on-exec:
end of file without an error means execve succeeded.
"""

from __future__ import annotations

import os
import signal
import socket

from . import sync, terminal
from .capabilities import last_cap
from .config import Process, parse_config
from .credentials import LoadFilter, apply_process_context, environment, find_executable
from .errors import ContainerInitError
from .init import _forbid_imports
from .linux import constants as c
from .linux.syscalls import LinuxSyscalls, Syscalls
from .procutil import close_fds_except, close_fds_from, reset_signals
from .records import record
from .state import ContainerState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cgroups.manager import CgroupManager

# Joined in this order: the user namespace last (see launch._join_namespaces), the
# mount namespace after the others because it changes our root.
_JOIN_ORDER = ("cgroup", "ipc", "uts", "network", "pid", "time", "mount", "user")


@record(frozen=False)
class ExecOptions:
    console_socket: str | None = None
    preserve_fds: int = 0


def spawn(state: ContainerState, process: Process, options: ExecOptions,
          cgroups: CgroupManager, seccomp: tuple[bytes | None, LoadFilter | None]) -> int:
    """Start `process` in the container; returns its pid once execve has succeeded."""
    config = parse_config(state.config, state.bundle)
    namespaces = [ns.type for ns in config.linux.namespaces]
    sys = LinuxSyscalls()
    ns_fds = [
        (ns_type, os.open(f"/proc/{state.pid}/ns/{c.NAMESPACES[ns_type][1]}",
                          os.O_RDONLY | os.O_CLOEXEC))
        for ns_type in _JOIN_ORDER if ns_type in namespaces
    ]
    console = terminal.connect(options.console_socket) if options.console_socket else None
    parent_sock, child_sock = sync.pair()
    joiner = os.fork()
    if joiner == 0:
        parent_sock.close()
        _joiner(sys, child_sock, ns_fds, process, console, state.id, seccomp,
                options.preserve_fds)
    child_sock.close()
    for _, fd in ns_fds:
        os.close(fd)
    if console is not None:
        console.close()
    try:
        cgroups.add_pid(joiner)
        sync.send(parent_sock, sync.GO)
        pid = int(sync.expect(parent_sock, sync.CHILD_PID)["pid"])
        message = sync.recv(parent_sock)
        if message["type"] == sync.ERROR:
            raise ContainerInitError(message["message"])
        return pid
    finally:
        parent_sock.close()
        try:
            os.waitpid(joiner, 0)
        except ChildProcessError:
            pass


def _joiner(sys: Syscalls, sock: socket.socket, ns_fds: list[tuple[str, int]],
            process: Process, console: socket.socket | None, container_id: str,
            seccomp: tuple[bytes | None, LoadFilter | None], preserve_fds: int) -> None:
    highest_cap = last_cap()
    try:
        keep = {sock.fileno(), *(fd for _, fd in ns_fds)}
        if console is not None:
            keep.add(console.fileno())
        close_fds_except(3 + preserve_fds, keep)
        sys.prctl(c.PR_SET_PDEATHSIG, signal.SIGKILL)
        sys.prctl(c.PR_SET_DUMPABLE, 0)
        sync.expect(sock, sync.GO)
        import resource

        for rlimit in process.rlimits:
            resource.setrlimit(rlimit.resource, (rlimit.soft, rlimit.hard))
        for ns_type, fd in ns_fds:
            sys.setns(fd, c.NAMESPACES[ns_type][0])
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            _process(sys, sock, process, console, container_id, seccomp, preserve_fds,
                     highest_cap)
        sync.send(sock, sync.CHILD_PID, pid=pid)
    except BaseException as err:
        _send_error(sock, err)
        os._exit(1)
    os._exit(0)


def _process(sys: Syscalls, sock: socket.socket, process: Process,
             console: socket.socket | None, container_id: str,
             seccomp: tuple[bytes | None, LoadFilter | None], preserve_fds: int,
             highest_cap: int) -> None:
    try:
        # setns(mount) made the container's root our root: from here on nothing may
        # be imported (CVE-2019-14271).
        _forbid_imports()
        os.setsid()
        if process.terminal:
            if console is None:
                raise ContainerInitError("process.terminal: a terminal needs --console-socket")
            master, slave, _ = terminal.open_pty("/dev/pts/ptmx")
            if process.console_size:
                terminal.set_size(master, *process.console_size)
            terminal.send_master(console, master, container_id)
            os.close(master)
            console.close()
            terminal.make_controlling(slave)
        program_filter, load_filter = seccomp
        apply_process_context(sys, process, program_filter, load_filter, highest_cap)
        program = find_executable(process)
        env = environment(process)
        # Keep only stdio, the preserved fds and the (close-on-exec) sync socket.
        keep = sock.fileno()
        first = 3 + preserve_fds
        if keep >= first:
            os.closerange(first, keep)
            close_fds_from(keep + 1)
        else:
            close_fds_from(first)
        reset_signals()
        os.execve(program, list(process.args), env)
    except BaseException as err:
        _send_error(sock, err)
        os._exit(126 if isinstance(err, OSError) else 1)


def _send_error(sock: socket.socket, err: BaseException) -> None:
    if isinstance(err, OSError) and err.filename:
        message = f"{err.filename}: {err.strerror}"
    elif isinstance(err, OSError) and len(err.args) > 1:
        message = str(err.args[1])
    else:
        message = str(err)
    try:
        sync.send(sock, sync.ERROR, message=message)
    except OSError:
        pass

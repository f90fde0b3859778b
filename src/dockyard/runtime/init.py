"""The container's init stage: pid 1 in the new namespaces, up to execve.

Order matters and follows runc's standard_init:
  mounts and /dev (host paths still reachable) -> parent applies cgroup limits and
  runs prestart/createRuntime hooks -> createContainer hooks -> pivot_root ->
  hostname, sysctls, read-only and masked paths -> no_new_privs, seccomp, caps,
  user -> report ready -> block on exec.fifo until `start` -> startContainer hooks
  -> close every fd -> execve.

Everything this stage needs is imported before pivot_root; afterwards imports are
switched off entirely (see `_forbid_imports`), because anything loaded once the
container's root is `/` would come from the container (the CVE-2019-14271 pattern).
"""

from __future__ import annotations

import json
import os
import socket
import sys as _sys

from . import rootfs, sync, terminal
from .config import Config
from .credentials import LoadFilter, apply_process_context, environment, find_executable
from .errors import OCIError
from .hooks import run_hooks
from .linux import constants as c
from .linux.syscalls import Syscalls
from .loopback import bring_up_loopback
from .procutil import close_fds_from, reset_signals
from .records import record


@record(frozen=False)
class InitArgs:
    container_id: str
    config: Config
    bundle: str
    sync_sock: socket.socket
    fifo_fd: int  # O_PATH: useless to the container, reopened through /proc/self/fd
    console: socket.socket | None
    rootfs_ctx: rootfs.RootfsContext
    seccomp_filter: bytes | None
    load_filter: LoadFilter | None
    highest_cap: int
    preserve_fds: int = 0
    no_pivot: bool = False
    no_new_keyring: bool = False


class _ImportsForbidden:
    """A meta path finder that refuses every import."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        raise ImportError(f"import of {name} refused inside the container root")


def _forbid_imports() -> None:
    _sys.path[:] = []
    _sys.path_importer_cache.clear()
    _sys.meta_path[:] = [_ImportsForbidden]


def run_init(sys: Syscalls, args: InitArgs) -> None:
    """Never returns: execs the user program or exits non-zero after reporting."""
    try:
        program, env = _setup(sys, args)
    except BaseException as err:
        _report(args.sync_sock, err)
        os._exit(1)
    fifo = _wait_for_start(args)
    try:
        # startContainer hooks run before the byte that releases `start`, so that they
        # finish before `start` runs the poststart hooks.
        start_hooks = args.config.hooks.get("startContainer", ())
        if start_hooks:
            run_hooks("startContainer", start_hooks, _state_json(args, "running"))
        os.write(fifo, b"0")
        os.close(fifo)
        close_fds_from(3 + args.preserve_fds)
        reset_signals()
        process = args.config.process
        assert process is not None
        os.execve(program, list(process.args), env)
    except BaseException as err:
        message = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        os.write(2, f"dockyard-runtime: exec {args.config.process.args[0]}: {message}\n"
                 .encode())  # type: ignore[union-attr]
        os._exit(127 if isinstance(err, FileNotFoundError) else 126)


def _setup(sys: Syscalls, args: InitArgs) -> tuple[str, dict[str, str]]:
    config = args.config
    process = config.process
    assert process is not None
    sync.expect(args.sync_sock, sync.GO)
    os.setsid()
    # mknod and mkdir below must create exactly the modes asked for.
    os.umask(0)
    if not args.no_new_keyring:
        try:
            sys.join_session_keyring(f"_ses.{args.container_id}")
        except OSError as err:
            if err.errno != 38:  # ENOSYS: kernels without keyrings
                raise
    if config.linux.new_namespace("network"):
        bring_up_loopback()
    rootfs.prepare(sys, args.rootfs_ctx)
    slave = _setup_console(sys, args) if process.terminal else None
    sync.send(args.sync_sock, sync.RUN_HOOKS)
    sync.expect(args.sync_sock, sync.HOOKS_DONE)
    create_hooks = config.hooks.get("createContainer", ())
    if create_hooks:
        run_hooks("createContainer", create_hooks, _state_json(args, "creating"))
    rootfs.pivot(sys, config.root_path, args.no_pivot)
    _forbid_imports()
    rootfs.finalize(sys, config)
    if slave is not None:
        terminal.make_controlling(slave)
    apply_process_context(sys, process, args.seccomp_filter, args.load_filter, args.highest_cap)
    program = find_executable(process)
    return program, environment(process)


def _setup_console(sys: Syscalls, args: InitArgs) -> int:
    """A pty from the container's devpts; its slave also becomes /dev/console."""
    assert args.console is not None and args.config.process is not None
    root = args.config.root_path
    master, slave, _ = terminal.open_pty(os.path.join(root, "dev/pts/ptmx"))
    size = args.config.process.console_size
    if size:
        terminal.set_size(master, *size)
    console_target = rootfs.ensure_file(sys, _root_fd(root), "/dev/console")
    try:
        sys.mount(f"/proc/self/fd/{slave}", f"/proc/self/fd/{console_target}", None,
                  c.MS_BIND, None)
    finally:
        os.close(console_target)
    terminal.send_master(args.console, master, args.container_id)
    os.close(master)
    args.console.close()
    return slave


def _root_fd(root: str) -> int:
    return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _wait_for_start(args: InitArgs) -> int:
    sync.send(args.sync_sock, sync.READY)
    args.sync_sock.close()
    try:
        # Opening a fifo for writing blocks until `start` opens it for reading.
        fifo = os.open(f"/proc/self/fd/{args.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.close(args.fifo_fd)
        return fifo
    except OSError as err:
        os.write(2, f"dockyard-runtime: waiting for start: {err.strerror}\n".encode())
        os._exit(1)


def _state_json(args: InitArgs, status: str) -> bytes:
    return json.dumps({
        "ociVersion": args.config.oci_version,
        "id": args.container_id,
        "status": status,
        "pid": os.getpid(),
        "bundle": args.bundle,
        "annotations": args.config.annotations,
    }).encode()


def _report(sock: socket.socket, err: BaseException) -> None:
    if isinstance(err, OSError) and err.strerror:
        message = f"{err.strerror}" if not err.args[1:] else str(err.args[1])
        if err.filename:
            message = f"{err.filename}: {err.strerror}"
    elif isinstance(err, OCIError):
        message = str(err)
    else:
        message = f"{type(err).__name__}: {err}"
    try:
        sync.send(sock, sync.ERROR, message=message)
    except OSError:
        pass

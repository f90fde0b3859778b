"""`create`: the parent side of starting a container, and its intermediate stage.

    parent (this process) --fork--> intermediate --fork--> init (pid 1)

The intermediate exists because unshare(CLONE_NEWPID) only moves the caller's
children into the new pid namespace, and because a new user namespace must be
created and mapped before the namespaces it will own. It joins namespaces given
by path, creates the new ones, forks the init, reports the init's pid and exits.
The init is then reparented to the nearest subreaper (a shim, or `run` itself).
"""

from __future__ import annotations

import os
import pwd
import signal
import socket

from . import sync
from .capabilities import last_cap
from .config import Config, IDMapping, load_bundle
from .credentials import LoadFilter
from .errors import ConfigError, OCIError
from .hooks import run_hooks
from .init import InitArgs, run_init
from .linux import constants as c
from .linux.syscalls import LinuxSyscalls, Syscalls
from .procutil import close_fds_except
from .records import record
from .rootfs import RootfsContext, effective_resources
from .state import ContainerState, StateDir, process_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .cgroups.manager import CgroupManager


@record(frozen=False)
class CreateOptions:
    console_socket: str | None = None
    pid_file: str | None = None
    preserve_fds: int = 0
    no_pivot: bool = False
    no_new_keyring: bool = False


def create(root: str, container_id: str, bundle: str, options: CreateOptions) -> ContainerState:
    """Set the container up and leave its init waiting on exec.fifo.

    On any failure nothing is left behind: no state directory, cgroup, mount or process.
    """
    bundle = os.path.abspath(bundle)
    state_dir = StateDir(root, container_id)
    if state_dir.exists() or os.path.exists(state_dir.path):
        from .errors import ContainerExists

        raise ContainerExists(container_id)
    config, raw = load_bundle(bundle)
    if config.process is None:
        raise ConfigError("process", "is required to create a container")
    if config.process.terminal and not options.console_socket:
        raise ConfigError("process.terminal", "a terminal needs --console-socket")
    _check_security_modules(config)
    _warn_unsupported_capabilities(config)
    seccomp_filter, load_filter = _prepare_seccomp(config, root)
    state_dir.claim()
    cgroups = None
    init_pid = 0
    try:
        cgroups = _open_cgroups(config, container_id)
        cgroups.create()
        init_pid = _spawn(config, bundle, container_id, state_dir, options, cgroups,
                          seccomp_filter, load_filter)
        state = ContainerState(
            id=container_id,
            bundle=bundle,
            rootfs=config.root_path,
            pid=init_pid,
            pid_start=process_start_time(init_pid) or 0,
            created=_now_rfc3339(),
            owner=_owner(),
            annotations=config.annotations,
            cgroup_paths=cgroups.paths(),
            namespace_paths=_namespace_paths(config, init_pid),
            config=raw,
        )
        state_dir.save(state)
        if options.pid_file:
            _write_pid_file(options.pid_file, init_pid)
        return state
    except BaseException:
        if init_pid:
            _kill_and_reap(init_pid)
        if cgroups is not None:
            cgroups.destroy()
        state_dir.remove()
        raise


def _check_security_modules(config: Config) -> None:
    """The spec: a runtime that cannot apply a requested LSM label must fail, not run
    the container unconfined."""
    process = config.process
    if process is None:
        return
    if process.apparmor_profile and not os.path.isdir("/sys/kernel/security/apparmor"):
        raise ConfigError("process.apparmorProfile", "AppArmor is not enabled on this host")
    if process.selinux_label and not os.path.isdir("/sys/fs/selinux"):
        raise ConfigError("process.selinuxLabel", "SELinux is not enabled on this host")


def _warn(message: str) -> None:
    import sys

    print(f"dockyard-runtime: warning: {message}", file=sys.stderr)


def _warn_unsupported_capabilities(config: Config) -> None:
    from .capabilities import unsupported

    caps = config.process.capabilities if config.process else None
    if caps is not None:
        for name in unsupported(caps, last_cap()):
            _warn(f"process.capabilities: unknown or unsupported capability {name} ignored")


def _prepare_seccomp(config: Config, root: str) -> tuple[bytes | None, LoadFilter | None]:
    """Compile the filter now, in the parent: cached per profile, and nothing may be
    imported once the init is inside the container root."""
    if config.linux.seccomp is None:
        return None, None
    return seccomp_for(config.linux.seccomp, root)


def seccomp_for(oci_seccomp: dict[str, Any], root: str) -> tuple[bytes, LoadFilter]:
    """(BPF program, loader) for a linux.seccomp section; the cache sits beside the
    state root, so every container with the same profile shares one compile."""
    from pathlib import Path

    from .seccomp import compile_bpf, filter_flags, load_bpf

    cache = Path(os.path.dirname(os.path.abspath(root)) or "/") / ".seccomp-cache"
    program = compile_bpf(oci_seccomp, cache_dir=cache)
    flags = filter_flags(oci_seccomp)
    return program, lambda bpf: load_bpf(bpf, flags)


def _open_cgroups(config: Config, container_id: str) -> CgroupManager:
    from .cgroups import open_manager

    return open_manager(config.linux.cgroups_path, container_id)


def _spawn(
    config: Config,
    bundle: str,
    container_id: str,
    state_dir: StateDir,
    options: CreateOptions,
    cgroups: CgroupManager,
    seccomp_filter: bytes | None,
    load_filter: LoadFilter | None,
) -> int:
    sys = LinuxSyscalls()
    parent_sock, child_sock = sync.pair()
    fifo_fd = os.open(state_dir.fifo, os.O_PATH | os.O_CLOEXEC)
    console = None
    if config.process and config.process.terminal and options.console_socket:
        from .terminal import connect

        console = connect(options.console_socket)
    rootfs_ctx = RootfsContext(
        config=config,
        bundle=bundle,
        cgroup_dirs=cgroups.paths(),
        cgroup2_only=set(cgroups.paths()) == {""},
        user_namespace=config.linux.new_namespace("user"),
    )
    init_args = InitArgs(
        container_id=container_id, config=config, bundle=bundle, sync_sock=child_sock,
        fifo_fd=fifo_fd, console=console, rootfs_ctx=rootfs_ctx,
        seccomp_filter=seccomp_filter, load_filter=load_filter, highest_cap=last_cap(),
        preserve_fds=options.preserve_fds, no_pivot=options.no_pivot,
        no_new_keyring=options.no_new_keyring,
    )
    intermediate = os.fork()
    if intermediate == 0:
        parent_sock.close()
        _intermediate(sys, init_args)
    child_sock.close()
    os.close(fifo_fd)
    if console is not None:
        console.close()
    try:
        return _drive(config, bundle, container_id, parent_sock, intermediate, cgroups)
    finally:
        parent_sock.close()
        _reap(intermediate)


def _drive(config: Config, bundle: str, container_id: str, sock: socket.socket,
           intermediate: int, cgroups: CgroupManager) -> int:
    # The intermediate joins the cgroups before it forks anything, so that no process
    # of the container ever runs outside them.
    cgroups.add_pid(intermediate)
    try:
        sync.send(sock, sync.GO)
    except BrokenPipeError:
        pass  # the intermediate failed early: its error message is still queued
    message = sync.recv(sock)
    if message["type"] == sync.USERNS_READY:
        _write_id_maps(intermediate, config)
        sync.send(sock, sync.MAPPED)
        message = sync.recv(sock)
    if message["type"] == sync.ERROR:
        from .errors import ContainerInitError

        raise ContainerInitError(message["message"])
    if message["type"] != sync.CHILD_PID:
        from .errors import ContainerInitError

        raise ContainerInitError("container setup exited before starting init")
    init_pid = int(message["pid"])
    try:
        process = config.process
        if process is not None and process.oom_score_adj is not None:
            with open(f"/proc/{init_pid}/oom_score_adj", "w") as file:
                file.write(str(process.oom_score_adj))
        # The init shares the intermediate's end of the socket: it waits for this
        # before it says anything, so its messages cannot overtake the child pid.
        sync.send(sock, sync.GO)
        sync.expect(sock, sync.RUN_HOOKS)
        # Limits are set once the mounts are done (the device rules would otherwise
        # stop the init creating /dev nodes), and before the hooks, which may
        # adjust them.
        for warning in cgroups.apply(effective_resources(config)) or ():
            _warn(warning)
        state = _hook_state(config, bundle, container_id, init_pid)
        run_hooks("prestart", config.hooks.get("prestart", ()), state)
        run_hooks("createRuntime", config.hooks.get("createRuntime", ()), state)
        sync.send(sock, sync.HOOKS_DONE)
        sync.expect(sock, sync.READY)
    except BaseException:
        _kill_and_reap(init_pid)
        raise
    return init_pid


def _hook_state(config: Config, bundle: str, container_id: str, pid: int) -> bytes:
    import json

    return json.dumps({
        "ociVersion": config.oci_version, "id": container_id, "status": "creating",
        "pid": pid, "bundle": bundle, "annotations": config.annotations,
    }).encode()


def _intermediate(sys: Syscalls, args: InitArgs) -> None:
    """Runs in the first child; never returns."""
    sock = args.sync_sock
    try:
        keep = {sock.fileno(), args.fifo_fd}
        if args.console is not None:
            keep.add(args.console.fileno())
        close_fds_except(3 + args.preserve_fds, keep)
        sys.prctl(c.PR_SET_PDEATHSIG, signal.SIGKILL)
        # Not dumpable: a process inside the container must not be able to open
        # /proc/<pid>/exe (the host's interpreter) or /proc/<pid>/mem of any runtime
        # stage (CVE-2019-5736, CVE-2016-9962). execve of the user program resets it.
        sys.prctl(c.PR_SET_DUMPABLE, 0)
        sync.expect(sock, sync.GO)
        config = args.config
        assert config.process is not None
        import resource

        for rlimit in config.process.rlimits:
            resource.setrlimit(rlimit.resource, (rlimit.soft, rlimit.hard))
        _join_namespaces(sys, config)
        if config.linux.new_namespace("user"):
            sys.unshare(c.CLONE_NEWUSER)
            sync.send(sock, sync.USERNS_READY)
            sync.expect(sock, sync.MAPPED)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        flags = 0
        for namespace in config.linux.namespaces:
            if namespace.type != "user" and not namespace.path:
                flags |= c.NAMESPACES[namespace.type][0]
        if flags:
            sys.unshare(flags)
        if config.linux.time_offsets:
            _write_time_offsets(config)
        pid = os.fork()
        if pid == 0:
            run_init(sys, args)
        sync.send(sock, sync.CHILD_PID, pid=pid)
    except BaseException as err:
        message = str(err.args[1]) if isinstance(err, OSError) and len(err.args) > 1 else str(err)
        if isinstance(err, OSError) and err.filename:
            message = f"{err.filename}: {err.strerror}"
        try:
            sync.send(sock, sync.ERROR, message=message)
        except OSError:
            os.write(2, f"dockyard-runtime: {message}\n".encode())
        os._exit(1)
    os._exit(0)


def _join_namespaces(sys: Syscalls, config: Config) -> None:
    """setns into every namespace given by path. All are opened first (a path may stop
    existing once we are inside another namespace); the user namespace is joined
    last, since joining it drops our capabilities over the host's namespaces."""
    opened: list[tuple[str, int]] = []
    try:
        for namespace in config.linux.namespaces:
            if namespace.path:
                try:
                    fd = os.open(namespace.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as err:
                    raise ConfigError(f"linux.namespaces[{namespace.type}].path",
                                      f"{namespace.path}: {err.strerror}") from None
                opened.append((namespace.type, fd))
        opened.sort(key=lambda item: item[0] == "user")
        for ns_type, fd in opened:
            try:
                sys.setns(fd, c.NAMESPACES[ns_type][0])
            except OSError as err:
                raise ConfigError(f"linux.namespaces[{ns_type}].path",
                                  f"cannot join: {err.strerror}") from None
    finally:
        for _, fd in opened:
            os.close(fd)


def _write_time_offsets(config: Config) -> None:
    lines = []
    for clock, offset in config.linux.time_offsets.items():
        lines.append(f"{clock} {int(offset.get('secs', 0))} {int(offset.get('nanosecs', 0))}\n")
    with open("/proc/self/timens_offsets", "w") as file:
        file.write("".join(lines))


def _write_id_maps(pid: int, config: Config) -> None:
    for name, mappings in (("uid_map", config.linux.uid_mappings),
                           ("gid_map", config.linux.gid_mappings)):
        _write_map(f"/proc/{pid}/{name}", mappings)


def _write_map(path: str, mappings: tuple[IDMapping, ...]) -> None:
    text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _namespace_paths(config: Config, pid: int) -> dict[str, str]:
    return {
        ns.type: ns.path or f"/proc/{pid}/ns/{c.NAMESPACES[ns.type][1]}"
        for ns in config.linux.namespaces
    }


def _now_rfc3339() -> str:
    import time

    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def _owner() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return ""


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as file:
        file.write(str(pid))
    os.rename(tmp, path)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    # The init is our grandchild: it is reaped by its subreaper, not by us. Wait for
    # it to be gone so that its cgroup can be removed.
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(5000)
    finally:
        os.close(fd)


__all__ = ["CreateOptions", "OCIError", "create"]

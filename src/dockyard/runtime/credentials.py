"""The last steps before execve, shared by a container's init and `exec`:
no_new_privs, seccomp, capabilities, user and groups, cwd, umask, executable lookup."""

from __future__ import annotations

import os
from collections.abc import Callable

from . import capabilities as caps
from .config import Process
from .errors import ContainerInitError
from .linux import constants as c
from .linux.syscalls import Syscalls

LoadFilter = Callable[[bytes], None]


def apply_process_context(
    sys: Syscalls, process: Process, seccomp_filter: bytes | None, load_filter: LoadFilter | None,
    highest_cap: int,
) -> None:
    if process.no_new_privileges:
        sys.prctl(c.PR_SET_NO_NEW_PRIVS, 1)
    # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we
    # still have it. With no_new_privs, load it as late as possible, after the
    # privileged calls below, so a strict profile need not allow them.
    early_filter = seccomp_filter is not None and not process.no_new_privileges
    if early_filter and load_filter and seccomp_filter:
        load_filter(seccomp_filter)
    _chdir(process.cwd)
    if process.capabilities is not None:
        caps.drop_bounding(sys, caps.to_mask(process.capabilities.bounding, highest_cap),
                           highest_cap)
    # KEEPCAPS keeps the permitted set across setresuid to a non-zero uid; the
    # capset below then trims it to what the config asks for.
    sys.prctl(c.PR_SET_KEEPCAPS, 1)
    user = process.user
    os.setgroups(list(user.additional_gids))
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    sys.prctl(c.PR_SET_KEEPCAPS, 0)
    if process.capabilities is not None:
        caps.apply_sets(sys, process.capabilities, highest_cap)
    # Again as the user: the directory may be reachable by root only.
    _chdir(process.cwd)
    verify_cwd()
    os.umask(user.umask if user.umask is not None else 0o022)
    _set_exec_labels(sys, process)
    if seccomp_filter is not None and not early_filter and load_filter:
        load_filter(seccomp_filter)


def _set_exec_labels(sys: Syscalls, process: Process) -> None:
    """LSM labels take effect at the next execve: the user program's. /proc here is the
    container's own procfs (a fake /proc is refused when mounting)."""
    if process.apparmor_profile:
        try:
            sys.write_file("/proc/self/attr/apparmor/exec", f"exec {process.apparmor_profile}")
        except FileNotFoundError:  # kernels before the per-LSM attr directories
            sys.write_file("/proc/self/attr/exec", f"exec {process.apparmor_profile}")
    if process.selinux_label:
        sys.write_file("/proc/self/attr/exec", process.selinux_label)


def _chdir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as err:
        raise ContainerInitError(f"process.cwd: cannot change to {cwd}: {err.strerror}") from None


def verify_cwd() -> None:
    """The cwd must be inside the container's root. A cwd of /proc/self/fd/N naming a
    leaked host directory shows up as '(unreachable)/...' (CVE-2024-21626)."""
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        raise ContainerInitError("process.cwd: current directory is not reachable") from None
    if not cwd.startswith("/"):
        raise ContainerInitError(f"process.cwd: {cwd} is outside the container's root")


def find_executable(process: Process) -> str:
    """execvp's lookup, done before the container is reported ready, so that a missing
    program fails `create` with a clear error instead of a silent exit at `start`."""
    name = process.args[0]
    if "/" in name:
        candidates = [name]
    else:
        path = process.env_value("PATH")
        if path is None:
            path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if "/" in name and os.path.exists(name):
        raise ContainerInitError(f"exec: {name!r}: permission denied")
    where = "" if "/" in name else " in $PATH"
    raise ContainerInitError(f"exec: {name!r}: executable file not found{where}")


def environment(process: Process) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in process.env:
        key, value = entry.split("=", 1)
        env[key] = value
    return env

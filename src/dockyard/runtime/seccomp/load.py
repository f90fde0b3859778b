"""Install a compiled BPF program with seccomp(2).

This runs inside the container, after pivot_root, when the host's Python
library may be out of reach: everything it needs (ctypes, libc's syscall(),
the syscall number) is set up here, at import time, never at call time.
"""

from __future__ import annotations

import ctypes
import errno
import os

from .errors import SeccompError

SECCOMP_SET_MODE_FILTER = 1
BPF_MAXINSNS = 4096
_SOCK_FILTER_SIZE = 8

# __NR_seccomp per uname machine.
_NR_SECCOMP = {
    "x86_64": 317,
    "i386": 354, "i486": 354, "i586": 354, "i686": 354,
    "aarch64": 277, "riscv64": 277, "loongarch64": 277,
    "armv6l": 383, "armv7l": 383, "armv8l": 383,
    "ppc64le": 358, "ppc64": 358, "ppc": 358,
    "s390x": 348, "s390": 348,
}
NR_SECCOMP = _NR_SECCOMP.get(os.uname().machine, -1)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = (ctypes.c_long, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p)


def load_bpf(program: bytes, flags: int = 0) -> None:
    """Install ``program`` as a seccomp filter on the calling thread.

    Needs no_new_privs or CAP_SYS_ADMIN. ``flags`` are SECCOMP_FILTER_FLAG_*
    bits (see ``filter_flags``). Raises ``OSError`` with the kernel's errno.
    """
    count, rest = divmod(len(program), _SOCK_FILTER_SIZE)
    if rest or not 0 < count <= BPF_MAXINSNS:
        raise SeccompError("seccomp program", f"not a BPF program ({len(program)} bytes)")
    if NR_SECCOMP < 0:
        raise OSError(errno.ENOSYS, f"seccomp(2) number unknown for {os.uname().machine}")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(count, ctypes.addressof(buffer))
    if _syscall(NR_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(err)}")

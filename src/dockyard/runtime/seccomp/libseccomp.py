"""The two libseccomp calls we need without pyseccomp: version and name lookup.

pyseccomp costs ~30 ms to import (it runs ldconfig to find the library), so a
cache hit, which only needs the version for its key, must not touch it.
"""

from __future__ import annotations

import ctypes
import functools

# libseccomp's __NR_SCMP_ERROR: the name is unknown to this libseccomp. Other
# negative numbers are its pseudo-syscalls for names absent on one arch.
NR_UNKNOWN = -1


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@functools.cache
def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_version.argtypes = ()
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    lib.seccomp_syscall_resolve_name_arch.argtypes = (ctypes.c_uint32, ctypes.c_char_p)
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    return lib


@functools.cache
def version() -> str:
    found = _lib().seccomp_version().contents
    return f"{found.major}.{found.minor}.{found.micro}"


def resolve(name: str, arch: int = 0) -> int:
    """The syscall number of ``name`` on ``arch`` (an SCMP_ARCH_* value; 0 = native)."""
    return int(_lib().seccomp_syscall_resolve_name_arch(arch, name.encode()))

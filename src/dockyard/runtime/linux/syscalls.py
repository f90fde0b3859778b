"""The privileged calls the runtime makes, behind one small interface.

`LinuxSyscalls` binds them with ctypes; `RecordingSyscalls` (fake.py) records them
so that rootfs, namespace and capability logic is unit tested without root.
Every call raises OSError(errno, "<call> <argument>: <strerror>") on failure.
"""

from __future__ import annotations

import ctypes
import os
from typing import Protocol

from . import constants as c


class Syscalls(Protocol):
    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def mknod(self, path: str, mode: int, device: int, dir_fd: int | None = None) -> None: ...
    def symlink(self, target: str, path: str, dir_fd: int | None = None) -> None: ...
    def chroot(self, path: str) -> None: ...
    def write_file(self, path: str, data: str) -> None: ...
    def join_session_keyring(self, name: str | None) -> None: ...
    def openat2(self, dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int: ...
    def mount_setattr(self, fd: int, attr_set: int, attr_clear: int, recursive: bool) -> None: ...


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _encode(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


class LinuxSyscalls:
    """ctypes bindings to glibc. Loaded once, before the container root is entered."""

    def __init__(self) -> None:
        # CDLL(None) is the already-loaded libc: no library search (no ldconfig, no
        # container files) even if this runs after pivot_root.
        libc = ctypes.CDLL(None, use_errno=True)
        self._libc = libc
        libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        libc.unshare.argtypes = [ctypes.c_int]
        libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                               ctypes.c_ulong]
        libc.syscall.restype = ctypes.c_long
        libc.capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]

    @staticmethod
    def _check(result: int, what: str) -> int:
        if result < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return result

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        result = self._libc.mount(
            _encode(source), _encode(target), _encode(fstype), flags, _encode(data)
        )
        self._check(result, f"mount {source or fstype} on {target}")

    def umount2(self, target: str, flags: int) -> None:
        self._check(self._libc.umount2(os.fsencode(target), flags), f"umount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        result = self._libc.syscall(
            ctypes.c_long(c.SYS_PIVOT_ROOT), os.fsencode(new_root), os.fsencode(put_old)
        )
        self._check(result, f"pivot_root {new_root}")

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), f"unshare {flags:#x}")

    def setns(self, fd: int, nstype: int) -> None:
        self._check(self._libc.setns(fd, nstype), f"setns {nstype:#x}")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), f"sethostname {name}")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.setdomainname(raw, len(raw)), f"setdomainname {name}")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        return self._check(self._libc.prctl(option, arg2, arg3, 0, 0), f"prctl {option}")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(c.CAP_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for index in range(2):
            shift = 32 * index
            data[index].effective = (effective >> shift) & 0xFFFFFFFF
            data[index].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[index].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        self._check(self._libc.capset(ctypes.byref(header), data), "capset")

    def mknod(self, path: str, mode: int, device: int, dir_fd: int | None = None) -> None:
        os.mknod(path, mode, device, dir_fd=dir_fd)

    def symlink(self, target: str, path: str, dir_fd: int | None = None) -> None:
        os.symlink(target, path, dir_fd=dir_fd)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def join_session_keyring(self, name: str | None) -> None:
        result = self._libc.syscall(
            ctypes.c_long(c.SYS_KEYCTL),
            ctypes.c_long(c.KEYCTL_JOIN_SESSION_KEYRING),
            _encode(name),
        )
        self._check(result, "keyctl join session keyring")

    def openat2(self, dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
        how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
        result = self._libc.syscall(
            ctypes.c_long(c.SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            os.fsencode(path),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        return self._check(result, f"open {path}")

    def mount_setattr(self, fd: int, attr_set: int, attr_clear: int, recursive: bool) -> None:
        attr = _MountAttr(attr_set, attr_clear, 0, 0)
        flags = _AT_EMPTY_PATH | (_AT_RECURSIVE if recursive else 0)
        result = self._libc.syscall(
            ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(fd), b"", ctypes.c_uint(flags),
            ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
        )
        self._check(result, "mount_setattr")


_SYS_MOUNT_SETATTR = 442  # the same number on x86_64 and aarch64
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000

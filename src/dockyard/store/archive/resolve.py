"""Directories inside an extraction root, opened without ever leaving it.

Every directory an entry lands in is opened from the root's fd by the kernel with
``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)``: a symlink that stays inside the
root is followed (as Docker's ``os.Root`` does), one that is absolute or climbs out
fails with EXDEV, and no rename race can move the lookup outside. Where openat2 is
missing (kernels before 5.6, seccomp profiles that block it) an ``O_NOFOLLOW`` walk
does the same one component at a time, keeping a stack of directory fds so that
``..`` is answered by our own stack, never by the filesystem.

Callers get ``O_PATH`` directory fds and use them as ``dir_fd`` for the final
component, so no path is ever built by joining strings.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable, Sequence

SYS_OPENAT2 = 437  # the same number on every architecture (asm-generic table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
MAX_SYMLINKS = 40  # the kernel's limit, kept by the walk too

O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
O_READ_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# None: not probed yet. Tests set False to exercise the O_NOFOLLOW walk.
OPENAT2: bool | None = None


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    how = _OpenHow(flags, 0, resolve)
    encoded = os.fsencode(path)
    for _ in range(8):
        fd = _libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dir_fd), encoded,
                           ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        # EAGAIN: a rename raced with ".." handling; the kernel asks for a retry.
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    raise OSError(err, os.strerror(err), path)


def openat2_available() -> bool:
    global OPENAT2
    if OPENAT2 is None:
        try:
            os.close(openat2(-100, "/", O_PATH_DIR, RESOLVE_NO_MAGICLINKS))
            OPENAT2 = True
        except OSError:
            OPENAT2 = False
    return OPENAT2


def reopen_dir(path_fd: int) -> int:
    """A readable fd of the directory behind an O_PATH fd (for fchown, fsetxattr...)."""
    return os.open(".", O_READ_DIR, dir_fd=path_fd)


class Root:
    """An extraction (or archiving) root, held open as an O_PATH fd."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, O_PATH_DIR)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_dir(self, parts: Sequence[str]) -> int:
        """An O_PATH fd of the directory ``parts`` inside the root.

        OSError EXDEV when the lookup would leave the root, ENOENT, ENOTDIR or ELOOP
        otherwise, as the kernel says.
        """
        if not parts:
            return os.dup(self.fd)
        if openat2_available():
            return openat2(self.fd, "/".join(parts), O_PATH_DIR,
                           RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        return self._walk(parts)

    def open_dir_nofollow(self, parts: Sequence[str]) -> int:
        """An O_PATH fd of ``parts`` through real directories only (no symlink at all)."""
        fd = os.dup(self.fd)
        try:
            for name in parts:
                next_fd = os.open(name, O_PATH_DIR | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def make_dirs(self, parts: Sequence[str], mode: int = 0o755,
                  created: Callable[[tuple[str, ...]], None] | None = None) -> int:
        """Like ``open_dir``, creating missing directories (``mode``, owned by us)."""
        try:
            return self.open_dir(parts)
        except FileNotFoundError:
            pass
        fd = os.dup(self.fd)
        try:
            for i, name in enumerate(parts):
                prefix = tuple(parts[: i + 1])
                try:
                    next_fd = self.open_dir(prefix)
                except FileNotFoundError:
                    try:
                        os.mkdir(name, mode, dir_fd=fd)
                    except FileExistsError:
                        pass  # a dangling symlink, say: the lookup below decides
                    else:
                        _chmod_dir(fd, name, mode)
                        if created is not None:
                            created(prefix)
                    # Look up again from the root, so the new directory is found by
                    # the same rules as every other one.
                    next_fd = self.open_dir(prefix)
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _walk(self, parts: Sequence[str]) -> int:
        stack = [os.dup(self.fd)]
        todo = list(parts)
        hops = 0
        try:
            while todo:
                name = todo.pop(0)
                if name in ("", "."):
                    continue
                if name == "..":
                    if len(stack) == 1:
                        raise OSError(errno.EXDEV, "path escapes the root", "/".join(parts))
                    os.close(stack.pop())
                    continue
                try:
                    stack.append(os.open(name, O_PATH_DIR | os.O_NOFOLLOW, dir_fd=stack[-1]))
                    continue
                except OSError as e:
                    if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise
                target = os.readlink(name, dir_fd=stack[-1])
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/".join(parts))
                if target.startswith("/"):
                    raise OSError(errno.EXDEV, "absolute symlink", "/".join(parts))
                todo[:0] = target.split("/")
            return stack.pop()
        finally:
            for fd in stack:
                os.close(fd)


def _chmod_dir(parent_fd: int, name: str, mode: int) -> None:
    # mkdir(2) applies the umask; directories we make must not depend on the daemon's.
    fd = os.open(name, O_READ_DIR, dir_fd=parent_fd)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)

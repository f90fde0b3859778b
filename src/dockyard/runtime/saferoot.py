"""Paths inside a container's root, resolved by the kernel inside that root.

Destinations come from config.json and the image, so they are untrusted: a
symlink `/etc -> /` in the rootfs must not send a mount onto the host. Every
lookup uses openat2(RESOLVE_IN_ROOT), never a string join, and mounts target the
resulting fd through /proc/self/fd (the CVE-2021-30465 class of races).
"""

from __future__ import annotations

import errno
import os
import stat

from .linux import constants as c
from .linux.syscalls import Syscalls

O_PATH_DIR = os.O_PATH | os.O_DIRECTORY


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_in_root(sys: Syscalls, root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    return sys.openat2(root_fd, path.lstrip("/") or ".", flags, c.RESOLVE_IN_ROOT)


def mkdir_all(sys: Syscalls, root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create every missing directory of `path` inside the root; returns an O_PATH fd."""
    parts = [part for part in path.split("/") if part]
    done: list[str] = []
    fd = os.dup(root_fd)
    for part in parts:
        done.append(part)
        try:
            next_fd = open_in_root(sys, root_fd, "/".join(done), O_PATH_DIR)
        except FileNotFoundError:
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                pass  # made by someone else meanwhile: the reopen below checks it
            # Reopen through the root again: the entry may have been swapped for a
            # symlink since we made it, and RESOLVE_IN_ROOT keeps that inside.
            next_fd = open_in_root(sys, root_fd, "/".join(done), O_PATH_DIR)
        except NotADirectoryError:
            os.close(fd)
            raise NotADirectoryError(
                errno.ENOTDIR, f"{'/' + '/'.join(done)} is not a directory"
            ) from None
        os.close(fd)
        fd = next_fd
    return fd


def ensure_file(sys: Syscalls, root_fd: int, path: str) -> int:
    """Create an empty file at `path` (a bind-mount target); returns an O_PATH fd."""
    parent, name = os.path.split(path.rstrip("/"))
    parent_fd = mkdir_all(sys, root_fd, parent)
    try:
        try:
            return open_in_root(sys, root_fd, path)
        except FileNotFoundError:
            created = os.open(
                name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644, dir_fd=parent_fd,
            )
            os.close(created)
            return open_in_root(sys, root_fd, path)
    finally:
        os.close(parent_fd)


def is_symlink(root_fd: int, path: str) -> bool:
    try:
        st = os.stat(path.lstrip("/"), dir_fd=root_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return stat.S_ISLNK(st.st_mode)

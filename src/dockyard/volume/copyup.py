"""Copy-up: an empty volume gets the image's content at its mount point (Docker's
``copyExistingContents``), keeping ownership, modes, times, xattrs, symlinks, hard links
and special files.

The source is the container's root: the mount point is resolved in it by the kernel
(``openat2(RESOLVE_IN_ROOT)``), so a symlink in the image cannot point the copy at the
host. Below it the tree is walked fd-relative without following anything
(``store.archive.walk``), and every entry is created relative to an fd of its parent in
the volume, looked up with ``RESOLVE_BENEATH``: nothing is ever reached by joining
strings, on either side.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    from dockyard.store.archive.resolve import openat2

    return openat2(dir_fd, path or ".", flags | os.O_CLOEXEC, resolve)


def is_empty(dir_path: str) -> bool:
    fd = os.open(dir_path, _O_DIR | os.O_NOFOLLOW)
    try:
        with os.scandir(fd) as it:
            return next(iter(it), None) is None
    finally:
        os.close(fd)


def copy_up(rootfs: str, destination: str, volume_dir: str) -> bool:
    """Copy ``destination`` of the container root ``rootfs`` into the empty
    ``volume_dir``. False when there was nothing to copy (no such directory)."""
    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            src = _openat2(root, destination.lstrip("/"), _O_DIR,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV):
                return False
            raise
    finally:
        os.close(root)
    try:
        dst = os.open(volume_dir, _O_DIR | os.O_NOFOLLOW)
        try:
            with os.scandir(dst) as it:
                if next(iter(it), None) is not None:
                    return False  # not empty: Docker copies only into an empty volume
            _copy_tree(src, dst)
            _copy_meta_fd(src, dst, os.fstat(src))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return True


def _copy_tree(src_root: int, dst_root: int) -> None:
    from dockyard.store.archive.walk import walk

    links: dict[tuple[int, int], tuple[str, ...]] = {}
    dirs: list[tuple[tuple[str, ...], os.stat_result]] = []
    for node in walk(src_root):
        parent = _openat2(dst_root, "/".join(node.parts[:-1]), os.O_PATH | os.O_DIRECTORY,
                          RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        try:
            _copy_entry(node, parent, dst_root, links, dirs)
        finally:
            os.close(parent)
    # Directory times last: creating their children changed them.
    for parts, st in reversed(dirs):
        with contextlib.suppress(OSError):
            fd = _openat2(dst_root, "/".join(parts), os.O_RDONLY | os.O_DIRECTORY,
                          RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
            try:
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)


def _copy_entry(node, parent: int, dst_root: int,  # type: ignore[no-untyped-def]
                links: dict[tuple[int, int], tuple[str, ...]],
                dirs: list[tuple[tuple[str, ...], os.stat_result]]) -> None:
    st, name, mode = node.st, node.name, node.st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, _O_DIR | os.O_NOFOLLOW, dir_fd=parent)
        try:
            _copy_meta_fd(node.fd, fd, st)
        finally:
            os.close(fd)
        dirs.append((node.parts, st))
        return
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and key in links:
        first = links[key]
        fparent = _openat2(dst_root, "/".join(first[:-1]), os.O_PATH | os.O_DIRECTORY,
                           RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        try:
            os.link(first[-1], name, src_dir_fd=fparent, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            os.close(fparent)
        return
    if stat.S_ISREG(mode):
        _copy_file(node.parent_fd, name, parent, st)
    elif stat.S_ISLNK(mode):
        target = os.readlink(name, dir_fd=node.parent_fd)
        os.symlink(target, name, dir_fd=parent)
        with contextlib.suppress(OSError):
            os.chown(name, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
        with contextlib.suppress(OSError, NotImplementedError):
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent,
                     follow_symlinks=False)
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(name, mode, st.st_rdev, dir_fd=parent)
        with contextlib.suppress(OSError):
            os.chown(name, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(name, stat.S_IMODE(mode), dir_fd=parent)
    else:
        return  # sockets are not copied
    if st.st_nlink > 1:
        links[key] = node.parts


def _copy_file(src_dir: int, name: str, dst_dir: int, st: os.stat_result) -> None:
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                  dir_fd=src_dir)
    try:
        now = os.fstat(src)
        if not stat.S_ISREG(now.st_mode) or now.st_ino != st.st_ino:
            return  # swapped while we walked
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, 0o600, dir_fd=dst_dir)
        try:
            remaining = now.st_size
            while remaining > 0:
                try:
                    n = os.copy_file_range(src, dst, remaining)
                except OSError as err:
                    if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL,
                                         errno.EOPNOTSUPP):
                        raise
                    n = os.sendfile(dst, src, None, remaining)
                if n == 0:
                    break
                remaining -= n
            _copy_meta_fd(src, dst, now)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_meta_fd(src: int, dst: int, st: os.stat_result) -> None:
    """Owner, mode (after chown, which clears set-id bits), xattrs, times."""
    with contextlib.suppress(OSError):
        os.fchown(dst, st.st_uid, st.st_gid)
    os.fchmod(dst, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        for attr in os.listxattr(src):
            with contextlib.suppress(OSError):
                os.setxattr(dst, attr, os.getxattr(src, attr))
    if not stat.S_ISDIR(st.st_mode):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))

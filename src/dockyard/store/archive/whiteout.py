"""Applying OCI whiteouts: as overlayfs whiteouts, or by deleting ("apply" format).

overlay: ``.wh.x`` becomes a 0/0 character device ``x``; ``.wh..wh..opq`` sets
``trusted.overlay.opaque=y`` on its directory (``user.overlay.opaque`` for rootless
overlay mounts with ``userxattr``). The kernel does the hiding when the layer is
mounted (``Documentation/filesystems/overlayfs.rst``).

apply: for a plain directory holding the whole tree (copy snapshots, exports), ``x``
is deleted, and an opaque directory loses every child that this layer did not
itself put there, whatever the tar order (image-spec: the opaque marker applies
before the layer's own entries in that directory).
"""

from __future__ import annotations

import os
import shutil
import stat

from .resolve import O_READ_DIR

OPAQUE_XATTR = "trusted.overlay.opaque"
USER_OPAQUE_XATTR = "user.overlay.opaque"
WHITEOUT_XATTR = "trusted.overlay.whiteout"
USER_WHITEOUT_XATTR = "user.overlay.whiteout"


def remove(parent_fd: int, name: str) -> bool:
    """Delete ``name`` (a whole tree for a directory) without following symlinks."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=parent_fd)
    else:
        os.unlink(name, dir_fd=parent_fd)
    return True


def make_overlay_whiteout(parent_fd: int, name: str, uid: int, gid: int,
                          chown: bool) -> None:
    remove(parent_fd, name)
    os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent_fd)
    if chown:
        os.chown(name, uid, gid, dir_fd=parent_fd, follow_symlinks=False)


def mark_opaque(dir_fd: int, rootless: bool) -> None:
    fd = os.open(".", O_READ_DIR, dir_fd=dir_fd)
    try:
        os.setxattr(fd, USER_OPAQUE_XATTR if rootless else OPAQUE_XATTR, b"y")
    finally:
        os.close(fd)


def clear_lower(dir_fd: int, parts: tuple[str, ...], keep: set[tuple[str, ...]]) -> None:
    """Delete the children of a directory that are not in ``keep`` (paths from the root),
    descending into kept directories, whose other children are lower content too."""
    fd = os.open(".", O_READ_DIR, dir_fd=dir_fd)
    try:
        with os.scandir(fd) as it:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for name, is_dir in children:
            child = (*parts, name)
            if child not in keep:
                remove(fd, name)
            elif is_dir:
                sub = os.open(name, O_READ_DIR, dir_fd=fd)
                try:
                    clear_lower(sub, child, keep)
                finally:
                    os.close(sub)
    finally:
        os.close(fd)

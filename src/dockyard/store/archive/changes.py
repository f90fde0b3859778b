"""What changed between a complete tree and the tree(s) it was copied from.

For snapshots without overlayfs, where a container's root is a full copy of its image:
a path is added when no lower has it, deleted when only a lower has it, modified when
its type, mode, owner, device, xattrs or (for non-directories) size, mtime or link
target differ. A directory's own mtime is ignored, as in Docker (moby/moby#9874), but a
directory is listed, before its children, whenever something inside it changed, so
that applying the diff restores its permissions. Deleting a directory is one change;
its children are not listed.

Lowers are given topmost first; a path is looked up in the first lower that has it,
and a non-directory there hides the same path in the lowers below.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from . import xattrs
from .resolve import O_READ_DIR, Root
from .walk import sorted_names


@dataclass(frozen=True)
class Change:
    parts: tuple[str, ...]
    deleted: bool
    parent_st: os.stat_result  # of the directory in the upper tree that holds it


@dataclass
class _Frame:
    parts: tuple[str, ...]
    fd: int  # the directory in the upper tree
    lowers: list[int]  # the same directory in the lowers that have it as a directory
    names: Iterator[str]
    st: os.stat_result
    placeholder: int  # index in the output reserved for this directory, or -1


def changes(upper: Root, lowers: list[Root]) -> list[Change]:
    """The changes of ``upper`` against ``lowers``, in tar order (pre-order, sorted)."""
    out: list[Change] = []
    top = os.open(".", O_READ_DIR, dir_fd=upper.fd)
    lower_tops = [os.open(".", O_READ_DIR, dir_fd=lower.fd) for lower in lowers]
    stack = [_frame((), top, lower_tops, os.fstat(top), -1)]
    try:
        while stack:
            frame = stack[-1]
            name = next(frame.names, None)
            if name is None:
                stack.pop()
                _close(frame)
                if frame.placeholder >= 0 and len(out) == frame.placeholder + 1:
                    out.pop()  # nothing inside changed: drop the directory again
                continue
            child = _compare(frame, name, out)
            if child is not None:
                stack.append(child)
    finally:
        for frame in stack:
            _close(frame)
    return out


def _frame(parts: tuple[str, ...], fd: int, lowers: list[int], st: os.stat_result,
           placeholder: int) -> _Frame:
    names = set(sorted_names(fd))
    for lower in lowers:
        names.update(sorted_names(lower))
    return _Frame(parts, fd, lowers, iter(sorted(names, key=os.fsencode)), st, placeholder)


def _close(frame: _Frame) -> None:
    for fd in (frame.fd, *frame.lowers):
        os.close(fd)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _compare(frame: _Frame, name: str, out: list[Change]) -> _Frame | None:
    parts = (*frame.parts, name)
    ust = _lstat(frame.fd, name)
    below: list[int] = []  # lowers in which `name` is a directory, down to a non-directory
    lst = None
    lower_first = -1
    for lower in frame.lowers:
        st = _lstat(lower, name)
        if st is None:
            continue
        if lst is None:
            lst = st
            lower_first = lower
        if not stat.S_ISDIR(st.st_mode):
            break
        below.append(lower)
    if ust is None:
        if lst is not None:
            out.append(Change(parts, True, frame.st))
        return None
    changed = True if lst is None else _differs(frame.fd, lower_first, name, ust, lst)
    if changed:
        out.append(Change(parts, False, frame.st))
    if not stat.S_ISDIR(ust.st_mode):
        return None
    if not (lst is not None and stat.S_ISDIR(lst.st_mode)):
        below = []
    try:
        fd = os.open(name, O_READ_DIR, dir_fd=frame.fd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise
    lower_fds: list[int] = []
    try:
        for lower in below:
            lower_fds.append(os.open(name, O_READ_DIR, dir_fd=lower))
        placeholder = -1
        if not changed:
            placeholder = len(out)
            out.append(Change(parts, False, frame.st))
        return _frame(parts, fd, lower_fds, os.fstat(fd), placeholder)
    except BaseException:
        for x in (fd, *lower_fds):
            os.close(x)
        raise


def _differs(upper_dir: int, lower_dir: int, name: str, u: os.stat_result,
             low: os.stat_result) -> bool:
    if (u.st_mode, u.st_uid, u.st_gid) != (low.st_mode, low.st_uid, low.st_gid):
        return True
    if (stat.S_ISCHR(u.st_mode) or stat.S_ISBLK(u.st_mode)) and u.st_rdev != low.st_rdev:
        return True
    if not stat.S_ISDIR(u.st_mode) and (
        u.st_size != low.st_size or u.st_mtime_ns != low.st_mtime_ns
    ):
        return True
    if stat.S_ISLNK(u.st_mode) and (
        os.readlink(name, dir_fd=upper_dir) != os.readlink(name, dir_fd=lower_dir)
    ):
        return True
    return (xattrs.archivable(xattrs.of_entry(upper_dir, name))
            != xattrs.archivable(xattrs.of_entry(lower_dir, name)))

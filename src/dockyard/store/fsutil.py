"""Directory trees: disk usage and copying with metadata (the copying snapshotter)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Usage:
    size: int  # bytes allocated on disk (st_blocks * 512, hard links counted once)
    inodes: int


# --- pure planning -------------------------------------------------------------------------------


def disk_usage(path: Path) -> Usage:
    """Like ``du``: allocated bytes and inodes under ``path``, hard links counted once."""
    seen: set[tuple[int, int]] = set()
    size = inodes = 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        size += st.st_blocks * 512
        inodes += 1
        if stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(FileNotFoundError):
                stack.extend(e.path for e in os.scandir(current))
    return Usage(size, inodes)


def _copy_metadata(src: str, dst: str, st: os.stat_result) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    is_link = stat.S_ISLNK(st.st_mode)
    for name in os.listxattr(src, follow_symlinks=False):
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
            os.setxattr(dst, name, value, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.ENODATA):
                raise
    if not is_link:
        # After chown, which clears setuid/setgid bits.
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_tree(src: Path, dst: Path, hardlink: bool = False) -> None:
    """Copy the tree ``src`` into the existing empty directory ``dst``, keeping owners,
    modes, xattrs, times, device nodes and hard links. With ``hardlink`` regular files
    are linked, not copied: only safe when neither side is written afterwards."""
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = [(str(src), str(dst), os.lstat(src))]
    pending = [(str(src), str(dst))]
    while pending:
        sdir, ddir = pending.pop()
        for entry in os.scandir(sdir):
            s, d = entry.path, os.path.join(ddir, entry.name)
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(d, 0o700)
                dirs.append((s, d, st))
                pending.append((s, d))
                continue
            if stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if hardlink:
                    os.link(s, d, follow_symlinks=False)
                    continue
                if st.st_nlink > 1 and key in links:
                    os.link(links[key], d, follow_symlinks=False)
                    continue
                shutil.copyfile(s, d, follow_symlinks=False)
                links[key] = d
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
            else:  # char/block devices (and overlay whiteouts), fifos, sockets
                os.mknod(d, mode, st.st_rdev)
            _copy_metadata(s, d, st)
    # Directories last, deepest first: adding entries would change their mtime again.
    for s, d, st in reversed(dirs):
        _copy_metadata(s, d, st)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Writing layer tars: an overlay upper dir, a copy snapshot against its parent, a tree.

``write_diff`` turns overlayfs' whiteouts back into OCI ones: a 0/0 character device
(or, since Linux 6.7, an empty file with ``trusted.overlay.whiteout``) becomes an empty
``.wh.<name>`` file; a directory with ``trusted.overlay.opaque=y`` is followed at once
by its ``.wh..wh..opq`` marker, before any of its children. Given ``lower_dirs``, the
upper dir is instead a whole tree (a copy snapshot) and the diff is computed against
them (``changes.py``). ``write_tree`` archives a directory as it is (export,
bootstrap). ``compress_and_digest`` runs any of them through a codec in one pass,
hashing both the tar (diff ID) and the compressed blob (digest).

Everything is read through fds relative to the walk (``walk.py``), never followed.
Entries come in a fixed order with fixed header fields, so an unchanged tree gives the
same bytes, hence the same diff ID, every time.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Callable, Sequence
from typing import NamedTuple

from . import changes, names, xattrs
from .codecs import Codec, CompressingWriter
from .digest import DigestingWriter
from .errors import ArchiveError, quote
from .hooks import Cancel, Progress, Writer
from .pipeline import WriteBehind
from .resolve import O_READ_DIR, Root
from .tarwrite import TarWriter, tarinfo
from .walk import Node, walk
from .whiteout import OPAQUE_XATTR, USER_OPAQUE_XATTR, USER_WHITEOUT_XATTR, WHITEOUT_XATTR

_UNSUPPORTED_OVERLAY = ("trusted.overlay.metacopy", "user.overlay.metacopy",
                        "trusted.overlay.redirect", "user.overlay.redirect")


class BlobResult(NamedTuple):
    diff_id: str  # sha256 of the tar
    digest: str  # sha256 of the blob as written (compressed)
    size: int  # bytes of the blob


def write_tree(
    root_dir: str | os.PathLike[str],
    out: Writer,
    *,
    owner: tuple[int, int] | None = None,
    mtime: int | None = None,
    cancel: Cancel = None,
    progress: Progress = None,
) -> int:
    """Archive the tree under ``root_dir`` (not the directory itself) into ``out``.

    ``owner`` (uid, gid) and ``mtime`` replace every entry's own, for reproducible
    images built by an unprivileged user. Returns the tar's size.
    """
    with Root(root_dir) as root:
        archiver = _Archiver(out, overlay=False, owner=owner, mtime=mtime, cancel=cancel,
                             progress=progress)
        for node in walk(root.fd):
            archiver.node(node)
        return archiver.close()


def write_diff(
    upper_dir: str | os.PathLike[str],
    out: Writer,
    *,
    lower_dirs: Sequence[str | os.PathLike[str]] = (),
    cancel: Cancel = None,
    progress: Progress = None,
) -> int:
    """Archive a layer's changes into ``out`` as an OCI layer tar; returns its size.

    Without ``lower_dirs``, ``upper_dir`` is an overlayfs upper directory (mounted with
    ``redirect_dir`` and ``metacopy`` off, as Docker's overlay2 does). With them, it is a
    complete tree and ``lower_dirs`` (topmost first) the complete tree(s) it started
    from; additions, modifications and deletions are found by comparing metadata
    (mode, owner, size, mtime, link target, xattrs), as Docker's naive diff does.
    """
    with Root(upper_dir) as upper:
        if lower_dirs:
            return _copy_diff(upper, lower_dirs, out, cancel, progress)
        return _overlay_diff(upper, out, cancel, progress)


def _overlay_diff(upper: Root, out: Writer, cancel: Cancel, progress: Progress) -> int:
    archiver = _Archiver(out, overlay=True, cancel=cancel, progress=progress)
    top = os.open(".", O_READ_DIR, dir_fd=upper.fd)
    try:
        if _opaque(top):  # a layer can hide the whole lower tree
            archiver.opaque_marker((), os.fstat(top))
    finally:
        os.close(top)
    for node in walk(upper.fd):
        archiver.node(node)
    return archiver.close()


def _copy_diff(upper: Root, lower_dirs: Sequence[str | os.PathLike[str]], out: Writer,
               cancel: Cancel, progress: Progress) -> int:
    with contextlib.ExitStack() as stack:
        lowers = [stack.enter_context(Root(d)) for d in lower_dirs]
        archiver = _Archiver(out, overlay=False, cancel=cancel, progress=progress)
        for change in changes.changes(upper, lowers):
            archiver.change(upper, change)
        return archiver.close()


def compress_and_digest(
    produce: Callable[[Writer], object],
    out: Writer,
    codec: Codec = Codec.GZIP,
    *,
    level: int | None = None,
    cancel: Cancel = None,
    progress: Progress = None,
) -> BlobResult:
    """Run ``produce(writer)`` (which writes a tar) through ``codec`` into ``out``.

    One pass: the tar is hashed on its way into the compressor (diff ID), the compressed
    bytes on their way out (digest). ``progress`` counts tar bytes; ``out`` is flushed,
    not closed.
    """
    blob = DigestingWriter(out, what="layer blob")
    if codec is Codec.NONE:
        tar = DigestingWriter(out, what="layer", cancel=cancel, progress=progress)
        produce(tar)
        tar.flush()
        return BlobResult(tar.digest, tar.digest, tar.size)
    compressor = CompressingWriter(blob, codec, level)
    # This thread reads files and hashes the tar; the worker compresses, hashes, writes.
    behind = WriteBehind(compressor)
    try:
        tar = DigestingWriter(behind, what="layer", cancel=cancel, progress=progress)
        produce(tar)
    except BaseException:
        behind.abort()
        raise
    behind.close()
    compressor.close()
    blob.flush()
    return BlobResult(tar.digest, blob.digest, blob.size)


def _opaque(dir_fd: int) -> bool:
    return any(xattrs.get(dir_fd, key) == b"y" for key in (OPAQUE_XATTR, USER_OPAQUE_XATTR))


class _Archiver:
    def __init__(self, out: Writer, *, overlay: bool, owner: tuple[int, int] | None = None,
                 mtime: int | None = None, cancel: Cancel = None,
                 progress: Progress = None) -> None:
        self.tar = TarWriter(out, cancel=cancel, progress=progress)
        self.overlay = overlay
        self.owner = owner
        self.mtime = mtime
        self.links: dict[tuple[int, int], str] = {}

    def close(self) -> int:
        self.tar.close()
        return self.tar.written

    def node(self, node: Node) -> None:
        st = node.st
        if stat.S_ISSOCK(st.st_mode):
            return  # sockets cannot be archived (Docker skips them too)
        # Directories and regular files are opened; everything else is read by name
        # in its parent through /proc, without following it.
        fd = node.fd
        opened = False
        if fd is None and stat.S_ISREG(st.st_mode):
            fd = _open_regular(node.parent_fd, node.name)
            if fd is None:
                return  # replaced by something else since it was listed
            opened = True
            st = os.fstat(fd)  # the file we will read, not the one we listed
        try:
            values = (xattrs.read_all(fd) if fd is not None
                      else xattrs.of_entry(node.parent_fd, node.name))
            self.entry(node, st, fd, values)
        finally:
            if opened and fd is not None:
                os.close(fd)

    def entry(self, node: Node, st: os.stat_result, fd: int | None,
              values: dict[str, bytes]) -> None:
        arcname = node.arcname
        if self.overlay:
            bad = [k for k in _UNSUPPORTED_OVERLAY if k in values]
            if bad:
                raise ArchiveError(f"{quote(arcname)}: overlay {bad[0]} cannot be archived; "
                                   "mount with redirect_dir=off,metacopy=off")
            if _is_whiteout(st, values):
                self.whiteout(node.parts, st)
                return
        linkname = ""
        if stat.S_ISLNK(st.st_mode):
            linkname = os.readlink(node.name, dir_fd=node.parent_fd)
        info = tarinfo(arcname, st, linkname=linkname, xattrs=xattrs.archivable(values))
        self.normalise(info)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key)
            if first is not None:
                info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
                self.tar.add(info)
                return
            self.links[key] = arcname
        self.tar.add(info, fd)
        if self.overlay and stat.S_ISDIR(st.st_mode) and fd is not None and _opaque(fd):
            self.opaque_marker(node.parts, st)

    def normalise(self, info: tarfile.TarInfo) -> None:
        if self.owner is not None:
            info.uid, info.gid = self.owner
        if self.mtime is not None:
            info.mtime = self.mtime

    def whiteout(self, parts: tuple[str, ...], st: os.stat_result) -> None:
        # As Docker writes it: an empty regular file, mode 0600, the node's owner and mtime.
        name = "/".join((*parts[:-1], names.whiteout_name(parts[-1])))
        info = _empty_file(name, st, 0o600)
        self.normalise(info)
        self.tar.add(info)

    def opaque_marker(self, dir_parts: tuple[str, ...], dir_st: os.stat_result) -> None:
        name = "/".join((*dir_parts, names.WHITEOUT_OPAQUE))
        info = _empty_file(name, dir_st, stat.S_IMODE(dir_st.st_mode) & 0o777)
        self.normalise(info)
        self.tar.add(info)

    def change(self, upper: Root, change: changes.Change) -> None:
        if change.deleted:
            self.whiteout(change.parts, change.parent_st)
            return
        parent = upper.open_dir_nofollow(change.parts[:-1])
        try:
            name = change.parts[-1]
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                fd = (os.open(name, O_READ_DIR, dir_fd=parent)
                      if stat.S_ISDIR(st.st_mode) else None)
            except FileNotFoundError:
                return  # removed since the comparison
            try:
                self.node(Node(change.parts, parent, name, st, fd))
            finally:
                if fd is not None:
                    os.close(fd)
        finally:
            os.close(parent)


def _open_regular(dir_fd: int, name: str) -> int | None:
    """Open a regular file for reading, or None if ``name`` is no longer one.

    A container can swap a file for a device node between our listing and our open,
    and merely opening some devices acts (a watchdog arms): so the inode is pinned
    with O_PATH and checked before it is opened for real.
    """
    try:
        path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(path_fd).st_mode):
            return None
        return os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(path_fd)


def _is_whiteout(st: os.stat_result, values: dict[str, bytes]) -> bool:
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return True
    return (stat.S_ISREG(st.st_mode) and st.st_size == 0
            and (WHITEOUT_XATTR in values or USER_WHITEOUT_XATTR in values))


def _empty_file(name: str, st: os.stat_result, mode: int) -> tarfile.TarInfo:
    """A header for an empty regular file with ``st``'s owner and mtime (whiteouts)."""
    info = tarinfo(name, st)
    info.type, info.mode, info.size, info.linkname = tarfile.REGTYPE, mode, 0, ""
    info.devmajor = info.devminor = 0
    return info

"""Applying a layer tar onto a directory, safely, in one streaming pass.

Theory of operation. The blob is read once: a DigestingReader hashes the bytes as they
arrive (the blob digest), the codec found by magic bytes decompresses them, a second
DigestingReader hashes the tar (the diff ID), and ``tarfile`` parses it. Each entry:

1. its name is cleaned lexically (``names.clean``); one that climbs out is refused;
2. its parent directory is opened from the root fd (``resolve.Root``) with missing
   directories created: a symlink leading out of the root is refused, never followed;
3. the entry is created by name relative to that fd, with O_NOFOLLOW/O_EXCL
   semantics, replacing whatever was there unless both are directories (Docker's
   rule: a file over a directory removes the tree, a directory over a file the file);
4. owner, xattrs, mode and times are applied; directories get mode and times last,
   deepest first, so that their children can still be created and their mtimes stick.

After the end-of-archive marker the rest of both streams is drained, so the digests
cover every byte, and then checked against what the caller expected. A failure leaves
the target partly written: callers extract into a scratch directory and discard it.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import Literal

from . import names, tarread, whiteout
from .codecs import Codec, codec_for_media_type, decompressing_reader, sniff
from .digest import DigestingReader
from .errors import LayerEntryError, quote
from .hooks import CHUNK, Cancel, Progress, Reader, check_cancel
from .meta import Applier, Warnings, file_mode
from .pipeline import ReadAhead
from .resolve import O_READ_DIR, Root

WhiteoutFormat = Literal["overlay", "apply"]
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_RESOLVE_ERRORS = {
    errno.EXDEV: "escapes the root through a symlink (absolute, or climbing out)",
    errno.ENOTDIR: "a parent is not a directory",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENAMETOOLONG: "name too long",
}


@dataclass
class LayerStats:
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # bytes of the uncompressed tar
    digest: str  # of the blob as read (equal to diff_id when uncompressed)
    compressed_size: int
    codec: Codec
    entries: int = 0
    whiteouts: int = 0
    warnings: list[str] = field(default_factory=list)


def extract_layer(
    stream: Reader,
    target_dir: str | os.PathLike[str],
    *,
    whiteout_format: WhiteoutFormat = "overlay",
    rootless: bool = False,
    media_type: str | None = None,
    expected_digest: str | None = None,
    expected_size: int | None = None,
    expected_diff_id: str | None = None,
    cancel: Cancel = None,
    progress: Progress = None,
    label: str | None = None,
) -> LayerStats:
    """Apply the layer read from ``stream`` (gzip, zstd or plain tar) onto ``target_dir``.

    ``whiteout_format``: "overlay" for a directory that becomes one overlayfs layer
    (whiteouts become 0/0 devices and opaque xattrs), "apply" for a directory that holds
    the whole tree (whiteouts delete). ``rootless``: skip device nodes, drop setuid and
    setgid bits, tolerate chown failures, use ``user.overlay.*`` xattrs.
    ``media_type``: checked to be a layer type (UnknownMediaType otherwise); the codec
    itself is taken from the magic bytes, as Docker does. ``expected_*``: checked once
    the stream is read to its end (DigestMismatch, SizeMismatch; a stream longer than
    ``expected_size`` fails as soon as it runs over). ``progress`` receives the running
    count of blob (compressed) bytes read, from a worker thread; ``cancel`` raises
    Cancelled. ``label`` names the layer in errors ("busybox:latest layer sha256:...").
    """
    if whiteout_format not in ("overlay", "apply"):
        raise ValueError(f"unknown whiteout format {whiteout_format!r}: want overlay or apply")
    if media_type is not None:
        codec_for_media_type(media_type)
    what = label or "layer"
    blob = DigestingReader(stream, expected=expected_digest, expected_size=expected_size,
                           what=what, cancel=cancel, progress=progress)
    codec, sniffed = sniff(blob)
    # The worker fetches, hashes and decompresses; this thread hashes and writes.
    with ReadAhead(decompressing_reader(sniffed, codec)) as ahead:
        diff = DigestingReader(ahead, expected=expected_diff_id, what=f"{what} diff ID",
                               cancel=cancel)
        with Root(target_dir) as root:
            extractor = _Extractor(root, whiteout_format, rootless, cancel, label)
            extractor.run(tarread.open_stream(diff))
        # The digests cover the whole stream, trailer and padding included.
        diff.drain()
    blob.drain()
    digest = blob.verify()
    diff_id = diff.verify()
    return LayerStats(
        diff_id=diff_id, size=diff.size, digest=digest,
        compressed_size=blob.size, codec=codec, entries=extractor.entries,
        whiteouts=extractor.whiteouts, warnings=extractor.warnings.items,
    )


class _Extractor:
    def __init__(self, root: Root, whiteout_format: WhiteoutFormat, rootless: bool,
                 cancel: Cancel, label: str | None) -> None:
        self.root = root
        self.overlay = whiteout_format == "overlay"
        self.rootless = rootless
        self.cancel = cancel
        self.label = label
        self.chown = os.geteuid() == 0
        self.can_mknod = self.chown and not rootless
        self.warnings = Warnings(label or "layer")
        self.meta = Applier(self.warnings, chown=self.chown, rootless=rootless)
        # "apply" format: everything this layer put in place, with its ancestors, so
        # that an opaque marker deletes only what came from below.
        self.unpacked: set[tuple[str, ...]] = set()
        self.dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}
        self.entries = 0
        self.whiteouts = 0

    def run(self, tar: tarfile.TarFile | None) -> None:
        for member in tarread.entries(tar):
            check_cancel(self.cancel, f"extracting {self.label or 'layer'}")
            self.entries += 1
            try:
                self.entry(tar, member)
            except LayerEntryError as e:
                if self.label is None:
                    raise
                raise LayerEntryError(e.name, e.reason, self.label) from None
            except tarfile.TarError as e:
                raise LayerEntryError(member.name, str(e), self.label) from None
            except OSError as e:
                raise LayerEntryError(member.name, e.strerror or str(e), self.label) from None
            except (ValueError, OverflowError) as e:
                # NUL bytes in a PAX name or link, IDs or device numbers out of range
                raise LayerEntryError(member.name, str(e), self.label) from None
        self.finish_dirs()

    # --- one entry ---------------------------------------------------------------------

    def entry(self, tar: tarfile.TarFile | None, m: tarfile.TarInfo) -> None:
        try:
            parts = names.clean(m.name)
            kind, target = names.classify(parts)
        except names.EscapesRoot:
            raise LayerEntryError(m.name, "escapes the root") from None
        except ValueError as e:
            raise LayerEntryError(m.name, str(e)) from None
        if not parts or kind is names.Kind.META:
            return  # the root's own metadata stays the target's; aufs bookkeeping
        parent_fd = self.parent(m.name, parts[:-1])
        try:
            if kind is names.Kind.WHITEOUT:
                self.whiteout(m, parts, parent_fd, target)
            elif kind is names.Kind.OPAQUE:
                self.opaque(parts[:-1], parent_fd)
            else:
                self.plain(tar, m, parts, parent_fd)
        finally:
            os.close(parent_fd)

    def parent(self, name: str, parts: tuple[str, ...]) -> int:
        try:
            return self.root.make_dirs(parts, created=self.mark_unpacked)
        except OSError as e:
            reason = _RESOLVE_ERRORS.get(e.errno or 0)
            if reason is None:
                raise
            raise LayerEntryError(name, reason) from None

    def mark_unpacked(self, parts: tuple[str, ...]) -> None:
        if self.overlay:
            return
        while parts and parts not in self.unpacked:
            self.unpacked.add(parts)
            parts = parts[:-1]

    def plain(self, tar: tarfile.TarFile | None, m: tarfile.TarInfo,
              parts: tuple[str, ...], parent_fd: int) -> None:
        base = parts[-1]
        if m.isdir():
            self.directory(m, parts, parent_fd)
        elif m.isreg():
            self.regular(tar, m, parent_fd, base)
        elif m.issym():
            whiteout.remove(parent_fd, base)
            os.symlink(m.linkname, base, dir_fd=parent_fd)
            self.meta.node(m.name, parent_fd, base, m, chmod=False)
        elif m.islnk():
            self.hardlink(m, parts, parent_fd)
        elif m.ischr() or m.isblk() or m.isfifo():
            if not self.special(m, parent_fd, base):
                return
        else:
            raise LayerEntryError(m.name, f"unsupported tar entry type {m.type!r}")
        self.mark_unpacked(parts)

    def regular(self, tar: tarfile.TarFile | None, m: tarfile.TarInfo, parent_fd: int,
                base: str) -> None:
        assert tar is not None
        whiteout.remove(parent_fd, base)
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent_fd)
        try:
            data = tar.extractfile(m)
            assert data is not None
            while chunk := data.read(CHUNK):
                _write_all(fd, chunk)
            # Only now: writing and chown both drop security.capability (file capabilities).
            self.meta.file(m.name, fd, m)
            self.meta.finish_file(m.name, fd, m)
        finally:
            os.close(fd)

    def directory(self, m: tarfile.TarInfo, parts: tuple[str, ...], parent_fd: int) -> None:
        base = parts[-1]
        try:
            st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
            exists = stat.S_ISDIR(st.st_mode)
        except FileNotFoundError:
            exists = False
        if not exists:
            whiteout.remove(parent_fd, base)
            # Owner-only until finish_dirs(): we may need to write into it meanwhile.
            os.mkdir(base, 0o700, dir_fd=parent_fd)
        fd = os.open(base, O_READ_DIR, dir_fd=parent_fd)
        try:
            self.meta.file(m.name, fd, m)
        finally:
            os.close(fd)
        self.dirs[parts] = m

    def hardlink(self, m: tarfile.TarInfo, parts: tuple[str, ...], parent_fd: int) -> None:
        # A hard link's target is a path from the root (not from the link's directory),
        # and must be an earlier entry or lower content inside the root.
        try:
            target = names.clean(m.linkname)
        except names.EscapesRoot:
            raise LayerEntryError(m.name, f"hard link target {quote(m.linkname)} escapes "
                                  "the root") from None
        if not target:
            raise LayerEntryError(m.name, "hard link to the root directory")
        if target == parts:
            return
        try:
            target_parent = self.root.open_dir(target[:-1])
        except OSError as e:
            reason = _RESOLVE_ERRORS.get(e.errno or 0, e.strerror)
            raise LayerEntryError(m.name, f"hard link target {quote(m.linkname)}: "
                                  f"{reason}") from None
        try:
            try:
                st = os.stat(target[-1], dir_fd=target_parent, follow_symlinks=False)
            except FileNotFoundError:
                raise LayerEntryError(m.name, f"hard link target {quote(m.linkname)} does "
                                      "not exist") from None
            if stat.S_ISDIR(st.st_mode):
                raise LayerEntryError(m.name, f"hard link target {quote(m.linkname)} is a "
                                      "directory")
            whiteout.remove(parent_fd, parts[-1])
            # follow_symlinks=False: linkat without AT_SYMLINK_FOLLOW, so a link to a
            # symlink links the symlink itself, never what it points to.
            os.link(target[-1], parts[-1], src_dir_fd=target_parent, dst_dir_fd=parent_fd,
                    follow_symlinks=False)
        finally:
            os.close(target_parent)

    def special(self, m: tarfile.TarInfo, parent_fd: int, base: str) -> bool:
        if m.isfifo():
            whiteout.remove(parent_fd, base)
            os.mkfifo(base, 0o600, dir_fd=parent_fd)
        elif not self.can_mknod:
            why = "rootless" if self.rootless else "not running as root"
            self.warnings.add(f"{m.name}: device node skipped ({why})")
            return False
        else:
            whiteout.remove(parent_fd, base)
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=parent_fd)
        self.meta.node(m.name, parent_fd, base, m, chmod=True)
        return True

    # --- whiteouts -----------------------------------------------------------------------

    def whiteout(self, m: tarfile.TarInfo, parts: tuple[str, ...], parent_fd: int,
                 target: str) -> None:
        self.whiteouts += 1
        if not self.overlay:
            whiteout.remove(parent_fd, target)
            return
        try:
            whiteout.make_overlay_whiteout(parent_fd, target, m.uid, m.gid, self.chown)
        except PermissionError:
            raise LayerEntryError(m.name, "cannot create an overlay whiteout (a 0/0 "
                                  "device) here; extract in apply format") from None

    def opaque(self, dir_parts: tuple[str, ...], dir_fd: int) -> None:
        self.whiteouts += 1
        if self.overlay:
            whiteout.mark_opaque(dir_fd, self.rootless)
        else:
            whiteout.clear_lower(dir_fd, dir_parts, self.unpacked)

    # --- directories last ------------------------------------------------------------------

    def finish_dirs(self) -> None:
        for parts in sorted(self.dirs, key=len, reverse=True):
            m = self.dirs[parts]
            try:
                # Not through symlinks: a later entry may have put one where this
                # directory was, and its mode belongs to this path only.
                path_fd = self.root.open_dir_nofollow(parts)
                try:
                    fd = os.open(".", O_READ_DIR, dir_fd=path_fd)
                finally:
                    os.close(path_fd)
            except OSError:
                continue  # replaced or deleted by a later entry
            try:
                os.fchmod(fd, file_mode(m, self.rootless))
                self.meta.utime(m.name, m, lambda ns, fd=fd: os.utime(fd, ns=ns))
            finally:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

"""Ownership, xattrs, permission bits and times of extracted entries.

Owners are numeric (never pwd/grp: after a chroot those would read the image's own
files, the CVE-2019-14271 pattern). Permission bits keep setuid/setgid, which images
rely on (ping, su, sudo); rootless extraction drops them, since an unprivileged user
must not mint setuid binaries. xattrs come from PAX ``SCHILY.xattr.*`` records;
overlayfs' own (``trusted.overlay.*``, ``user.overlay.*``) are never taken from a
layer, as they would let it forge whiteouts, redirects or metacopy references.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tarfile
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

log = logging.getLogger(__name__)

XATTR_PAX_PREFIX = "SCHILY.xattr."
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
# Errors that mean "this filesystem or this user cannot have that attribute".
_XATTR_SOFT_ERRORS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EACCES, errno.ERANGE,
                                errno.E2BIG, errno.ENOSPC})
_CHOWN_SOFT_ERRORS = frozenset({errno.EPERM, errno.EINVAL})
MAX_WARNINGS = 1000


class Warnings:
    """What was skipped; kept (bounded) for the caller and logged."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.items: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_WARNINGS:
            self.items.append(message)
            log.warning("%s: %s", self.label, message)


def file_mode(member: tarfile.TarInfo, rootless: bool) -> int:
    mode = member.mode & 0o7777
    if rootless:
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    return mode


def _pax_ns(member: tarfile.TarInfo, key: str) -> int | None:
    value = member.pax_headers.get(key)
    if value is None:
        return None
    try:
        return int(Decimal(value) * 1_000_000_000)
    except (InvalidOperation, ValueError, OverflowError):
        return None


def times_ns(member: tarfile.TarInfo) -> tuple[int, int] | None:
    """(atime, mtime) in ns, from PAX records when present (they carry fractions)."""
    mtime = _pax_ns(member, "mtime")
    if mtime is None:
        try:
            mtime = int(member.mtime) * 1_000_000_000
        except (ValueError, OverflowError):  # tarfile turns a PAX "nan" or "inf" into a float
            return None
    atime = _pax_ns(member, "atime")
    return (mtime if atime is None else atime), mtime


def xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    out = []
    for key, value in member.pax_headers.items():
        if key.startswith(XATTR_PAX_PREFIX):
            # tarfile decoded the value with surrogateescape: this gives the bytes back.
            out.append((key[len(XATTR_PAX_PREFIX):], value.encode("utf-8", "surrogateescape")))
    return out


class Applier:
    """Applies one entry's metadata, by fd where the entry can be opened."""

    def __init__(self, warnings: Warnings, *, chown: bool, rootless: bool) -> None:
        self.warnings = warnings
        self.chown = chown
        self.rootless = rootless

    def owner(self, name: str, do: Callable[[], None]) -> None:
        if not self.chown:
            return
        try:
            do()
        except OSError as e:
            # In a user namespace, IDs outside the mapping cannot be given away.
            if not (self.rootless and e.errno in _CHOWN_SOFT_ERRORS):
                raise
            self.warnings.add(f"{name}: owner not set: {e.strerror}")

    def xattrs(self, name: str, member: tarfile.TarInfo,
               setx: Callable[[str, bytes], None]) -> None:
        for key, value in xattrs(member):
            if key.startswith(OVERLAY_XATTR_PREFIXES):
                self.warnings.add(f"{name}: xattr {key} ignored (overlayfs metadata)")
                continue
            try:
                setx(key, value)
            except OSError as e:
                if e.errno not in _XATTR_SOFT_ERRORS:
                    raise
                self.warnings.add(f"{name}: xattr {key} not set: {e.strerror}")

    def file(self, name: str, fd: int, member: tarfile.TarInfo) -> None:
        """Owner and xattrs of a regular file or directory open as ``fd``.

        Call it after the data is written, and ``finish_file`` after it: writing and
        chown clear security.capability, chown clears setuid/setgid bits.
        """
        self.owner(name, lambda: os.fchown(fd, member.uid, member.gid))
        self.xattrs(name, member, lambda k, v: os.setxattr(fd, k, v))

    def finish_file(self, name: str, fd: int, member: tarfile.TarInfo) -> None:
        os.fchmod(fd, file_mode(member, self.rootless))
        self.utime(name, member, lambda ns: os.utime(fd, ns=ns))

    def utime(self, name: str, member: tarfile.TarInfo,
              do: Callable[[tuple[int, int]], None]) -> None:
        ns = times_ns(member)
        try:
            if ns is not None:
                do(ns)
                return
        except OverflowError:
            pass
        self.warnings.add(f"{name}: time out of range, not set")

    def node(self, name: str, parent_fd: int, base: str, member: tarfile.TarInfo,
             *, chmod: bool) -> None:
        """An entry that must not be opened (symlink, device, fifo): by name in its parent."""
        self.owner(name, lambda: os.chown(base, member.uid, member.gid, dir_fd=parent_fd,
                                          follow_symlinks=False))
        # No *at form of lsetxattr before Linux 6.13: reach the entry through the
        # parent's fd in /proc, without following the entry itself.
        path = f"/proc/self/fd/{parent_fd}/{base}"
        self.xattrs(name, member,
                    lambda k, v: os.setxattr(path, k, v, follow_symlinks=False))
        if chmod:
            # We made this node a moment ago with mknod/mkfifo, so following it is
            # following nothing; Linux has no lchmod.
            os.chmod(base, file_mode(member, self.rootless), dir_fd=parent_fd)
        self.utime(name, member, lambda ns: os.utime(base, ns=ns, dir_fd=parent_fd,
                                                     follow_symlinks=False))

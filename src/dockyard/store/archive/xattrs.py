"""Reading extended attributes for archiving, and which of them never go into a layer."""

from __future__ import annotations

import errno
import os

# overlayfs' own bookkeeping, and the host's SELinux labels, are never archived.
SKIP_PREFIXES = ("trusted.overlay.", "user.overlay.", "security.selinux")
_ABSENT = frozenset({errno.ENOTSUP, errno.ENODATA, errno.EPERM, errno.EACCES})


def get(target: int | str, key: str) -> bytes | None:
    """One attribute of an fd, or of a path without following it; None if absent."""
    # (os.*xattr refuse follow_symlinks=False with an fd, though an fd follows nothing.)
    try:
        return os.getxattr(target, key, follow_symlinks=isinstance(target, int))
    except OSError as e:
        if e.errno in _ABSENT:
            return None
        raise


def read_all(target: int | str) -> dict[str, bytes]:
    """Every attribute we can read (trusted.* needs CAP_SYS_ADMIN to be seen at all)."""
    try:
        keys = os.listxattr(target, follow_symlinks=isinstance(target, int))
    except OSError as e:
        if e.errno in _ABSENT:
            return {}
        raise
    out = {}
    for key in keys:
        value = get(target, key)
        if value is not None:
            out[key] = value
    return out


def archivable(values: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in values.items() if not k.startswith(SKIP_PREFIXES)}


def of_entry(dir_fd: int, name: str) -> dict[str, bytes]:
    """The attributes of ``name`` in ``dir_fd`` itself, even a symlink or device node.

    There is no *at form of llistxattr before Linux 6.13: the path goes through the
    parent's fd in /proc, and the entry itself is not followed.
    """
    return read_all(f"/proc/self/fd/{dir_fd}/{name}")

"""Mounts as data, and performing them: overlay option planning, mount(2) and the new
mount API (fsopen/fsconfig/fsmount) for lowerdir chains too long for one page."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import StoreError

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
FSCONFIG_STRING_MAX = 256  # fsconfig(FSCONFIG_SET_STRING) copies at most 256 bytes



@dataclass(frozen=True)
class Mount:
    """One mount to perform, as data: ``mount -t <type> -o <options> <source> <target>``."""

    type: str
    source: str
    options: tuple[str, ...] = ()


def escape_overlay_path(path: str) -> str:
    """Escape the separators overlayfs splits on (``:`` between lowers, ``,`` between options)."""
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def unescape_overlay_path(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def split_lowerdir(value: str) -> list[str]:
    """``a:b\\:c`` -> ["a", "b:c"]: the lowerdir option value, split on unescaped colons."""
    parts, current, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if ch == ":":
            parts.append(unescape_overlay_path("".join(current)))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append(unescape_overlay_path("".join(current)))
    return parts


def plan_mounts(
    kind: str,
    fs: str,
    work: str,
    lowers: Sequence[str],
    extra: Sequence[str] = (),
) -> list[Mount]:
    """Mounts for an overlay snapshot. ``lowers`` are the parents' fs dirs, nearest first.

    ``kind`` is "active" (writable upper ``fs``) or "view" (read-only; own fs unused).
    """
    if kind == "active":
        if not lowers:
            # Nothing to merge: a bind mount avoids overlay's copy-up costs entirely.
            return [Mount("bind", fs, ("rbind", "rw"))]
        options = (
            *extra,
            # Renamed directories and metadata-only copy-ups would leave xattrs in the
            # upper dir that an OCI layer diff cannot express (as Docker's overlay2).
            "redirect_dir=off",
            "metacopy=off",
            f"workdir={escape_overlay_path(work)}",
            f"upperdir={escape_overlay_path(fs)}",
            "lowerdir=" + ":".join(escape_overlay_path(p) for p in lowers),
        )
        return [Mount("overlay", "overlay", options)]
    if kind == "view":
        if not lowers:
            return [Mount("bind", fs, ("rbind", "ro"))]
        if len(lowers) == 1:
            # overlayfs needs two lowers when there is no upper: one layer is a bind mount.
            return [Mount("bind", lowers[0], ("rbind", "ro"))]
        options = (*extra, "lowerdir=" + ":".join(escape_overlay_path(p) for p in lowers))
        return [Mount("overlay", "overlay", options)]
    raise ValueError(f"no mounts for snapshot kind {kind!r}")


def mount_data(options: Sequence[str]) -> str:
    return ",".join(options)


def fits_page(options: Sequence[str], page_size: int = PAGE_SIZE) -> bool:
    """mount(2) copies one page of options: longer data would be silently cut off."""
    return len(os.fsencode(mount_data(options))) < page_size  # + the terminating NUL


def lowerdirs(mount: Mount) -> list[str]:
    for option in mount.options:
        if option.startswith("lowerdir="):
            return split_lowerdir(option[len("lowerdir=") :])
    return []


def with_lowerdirs(mount: Mount, lowers: Sequence[str]) -> Mount:
    """The same overlay mount with its lower directories replaced (e.g. by short aliases)."""
    value = "lowerdir=" + ":".join(escape_overlay_path(p) for p in lowers)
    options = tuple(value if o.startswith("lowerdir=") else o for o in mount.options)
    return Mount(mount.type, mount.source, options)


def shorten_lowerdirs(mount: Mount, alias: Callable[[str], str]) -> Mount:
    """Replace every lower directory by ``alias(path)`` (``/proc/self/fd/<n>`` when mounting)."""
    return with_lowerdirs(mount, [alias(p) for p in lowerdirs(mount)])


def choose_overlay_strategy(
    mount: Mount, page_size: int = PAGE_SIZE, lowerdir_plus: bool = True
) -> str:
    """How to mount an overlay: "mount2" (fits a page), "lowerdir+" (new mount API, one
    fsconfig call per layer; kernel 6.8+) or "fd-paths" (mount(2) with /proc/self/fd aliases).

    Docker shortens with ``l/<id>`` symlinks relative to a chdir; a threaded daemon cannot
    chdir safely, so we use per-layer fsconfig or fd aliases instead.
    """
    if fits_page(mount.options, page_size):
        return "mount2"
    longest = max((len(os.fsencode(p)) for p in lowerdirs(mount)), default=0)
    if lowerdir_plus and longest < FSCONFIG_STRING_MAX:
        return "lowerdir+"
    return "fd-paths"


# --- performing mounts ---------------------------------------------------------------------------

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2
_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_IGNORED = {"rw", "bind", "rbind"}

_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432
_FSCONFIG_SET_FLAG, _FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 0, 1, 6
_FSOPEN_CLOEXEC = _FSMOUNT_CLOEXEC = 1
_MOUNT_ATTR_RDONLY = 0x1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100


class MountSyscalls(Protocol):
    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def fsopen(self, fstype: str) -> int: ...
    def fsconfig(self, fd: int, key: str, value: str | None) -> None: ...
    def fsmount_move(self, fd: int, target: str, readonly: bool) -> None: ...
    def open_path(self, path: str) -> int: ...
    def close(self, fd: int) -> None: ...


class LinuxMountSyscalls:
    """ctypes bindings; every failure is OSError(errno, "<call> <target>: <strerror>")."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        libc.syscall.restype = ctypes.c_long
        self._libc = libc

    @staticmethod
    def _fail(call: str, what: str) -> OSError:
        err = ctypes.get_errno()
        return OSError(err, f"{call} {what}: {os.strerror(err)}")

    def _syscall(self, name: str, what: str, *args: object) -> int:
        result = self._libc.syscall(*args)
        if result < 0:
            raise self._fail(name, what)
        return int(result)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        enc = [None if v is None else os.fsencode(v) for v in (source, target, fstype, data)]
        if self._libc.mount(enc[0], enc[1], enc[2], flags, enc[3]) != 0:
            raise self._fail("mount", target)

    def umount2(self, target: str, flags: int) -> None:
        if self._libc.umount2(os.fsencode(target), flags) != 0:
            raise self._fail("umount2", target)

    def fsopen(self, fstype: str) -> int:
        return self._syscall(
            "fsopen", fstype, ctypes.c_long(_SYS_FSOPEN), os.fsencode(fstype), _FSOPEN_CLOEXEC
        )

    def fsconfig(self, fd: int, key: str, value: str | None) -> None:
        cmd = _FSCONFIG_SET_FLAG if value is None else _FSCONFIG_SET_STRING
        raw = None if value is None else os.fsencode(value)
        self._syscall(
            "fsconfig", f"{key}={value}", ctypes.c_long(_SYS_FSCONFIG), fd, cmd,
            os.fsencode(key), raw, 0,
        )  # fmt: skip

    def fsmount_move(self, fd: int, target: str, readonly: bool) -> None:
        self._syscall("fsconfig", "create", ctypes.c_long(_SYS_FSCONFIG), fd,
                      _FSCONFIG_CMD_CREATE, None, None, 0)  # fmt: skip
        attrs = _MOUNT_ATTR_RDONLY if readonly else 0
        mfd = self._syscall(
            "fsmount", target, ctypes.c_long(_SYS_FSMOUNT), fd, _FSMOUNT_CLOEXEC, attrs
        )
        try:
            self._syscall("move_mount", target, ctypes.c_long(_SYS_MOVE_MOUNT), mfd, b"",
                          _AT_FDCWD, os.fsencode(target), _MOVE_MOUNT_F_EMPTY_PATH)  # fmt: skip
        finally:
            # The detached mount's fd holds a reference: left open, umount would say EBUSY.
            os.close(mfd)

    def open_path(self, path: str) -> int:
        return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self, fd: int) -> None:
        os.close(fd)


_linux: LinuxMountSyscalls | None = None


def _default_sys() -> MountSyscalls:
    global _linux
    if _linux is None:
        _linux = LinuxMountSyscalls()
    return _linux


def _flags_and_data(options: Sequence[str]) -> tuple[int, list[str]]:
    flags, data = 0, []
    for option in options:
        if option in _FLAGS:
            flags |= _FLAGS[option]
        elif option not in _IGNORED:
            data.append(option)
    return flags, data


def mount(mounts: Sequence[Mount], target: str, sys: MountSyscalls | None = None) -> None:
    """Mount ``mounts`` in order on ``target``. On failure, what was mounted is undone."""
    sys = sys or _default_sys()
    done = 0
    try:
        for m in mounts:
            _mount_one(m, target, sys)
            done += 1
    except BaseException:
        for _ in range(done):
            with contextlib.suppress(OSError):
                sys.umount2(target, MNT_DETACH)
        raise


def _mount_one(m: Mount, target: str, sys: MountSyscalls) -> None:
    flags, data = _flags_and_data(m.options)
    if m.type == "bind":
        bind = MS_BIND | (MS_REC if "rbind" in m.options else 0)
        sys.mount(m.source, target, None, bind, None)
        if flags:
            # A bind mount ignores MS_RDONLY etc. on creation: they need a remount.
            sys.mount(None, target, None, bind | MS_REMOUNT | flags, None)
        return
    if m.type != "overlay":
        sys.mount(m.source, target, m.type, flags, mount_data(data) or None)
        return
    strategy = choose_overlay_strategy(Mount(m.type, m.source, tuple(data)))
    if strategy == "lowerdir+":
        try:
            _mount_lowerdir_plus(m.source, data, target, bool(flags & MS_RDONLY), sys)
            return
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EPERM):
                raise
            strategy = "fd-paths"  # kernel before 6.8, or the new API filtered
    if strategy == "mount2":
        sys.mount(m.source, target, "overlay", flags, mount_data(data))
        return
    _mount_fd_paths(m, data, flags, target, sys)


def _mount_lowerdir_plus(
    source: str, options: Sequence[str], target: str, readonly: bool, sys: MountSyscalls
) -> None:
    fd = sys.fsopen("overlay")
    try:
        sys.fsconfig(fd, "source", source)
        for option in options:
            key, eq, value = option.partition("=")
            if key == "lowerdir":
                for lower in split_lowerdir(value):
                    sys.fsconfig(fd, "lowerdir+", lower)
            elif eq:
                sys.fsconfig(fd, key, unescape_overlay_path(value))
            else:
                sys.fsconfig(fd, key, None)
        sys.fsmount_move(fd, target, readonly)
    finally:
        sys.close(fd)


def _mount_fd_paths(
    m: Mount, options: Sequence[str], flags: int, target: str, sys: MountSyscalls
) -> None:
    overlay = Mount(m.type, m.source, tuple(options))
    fds: list[int] = []

    def alias(path: str) -> str:
        fds.append(sys.open_path(path))
        return f"/proc/self/fd/{fds[-1]}"

    try:
        short = shorten_lowerdirs(overlay, alias)
        if not fits_page(short.options):
            raise StoreError(f"overlay on {target}: {len(fds)} layers are too many to mount")
        # The kernel resolves each alias while mounting; the fds may be closed right after.
        sys.mount(m.source, target, "overlay", flags, mount_data(short.options))
    finally:
        for fd in fds:
            sys.close(fd)


def unmount(target: str, detach: bool = False, sys: MountSyscalls | None = None) -> None:
    (sys or _default_sys()).umount2(target, MNT_DETACH if detach else 0)


# --- filesystem helpers --------------------------------------------------------------------------


def overlay_supported(root: Path) -> bool:
    """Is overlayfs usable for snapshots under ``root``? Registered, and a probe mount works
    there (the backing filesystem must support what overlay needs for an upper dir)."""
    try:
        with open("/proc/filesystems") as f:
            if not any(line.split()[-1:] == ["overlay"] for line in f):
                return False
    except OSError:
        return False
    if os.geteuid() != 0:
        return False
    root.mkdir(parents=True, exist_ok=True)
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=root))
    try:
        for name in ("l1", "l2", "upper", "work", "merged"):
            (probe / name).mkdir()
        (probe / "l1" / "a").write_text("a")
        merged = str(probe / "merged")
        lowers = [str(probe / "l2"), str(probe / "l1")]
        m = plan_mounts("active", str(probe / "upper"), str(probe / "work"), lowers)
        try:
            mount(m, merged)
        except OSError:
            return False
        try:
            return (probe / "merged" / "a").exists()
        finally:
            unmount(merged, detach=True)
    finally:
        shutil.rmtree(probe, ignore_errors=True)


# --- snapshotters --------------------------------------------------------------------------------


"""Snapshotters: unpacked layers keyed by chain ID, and containers' writable layers.

Theory of operation (containerd's model). A snapshot is a row in metadata.db (key, parent,
kind) plus a directory ``<root>/snapshots/<id>/{fs,work}`` named by the row's id:

    prepare(key, parent) -> active     writable; mounts = overlay(upper=fs, lowers=parents)
    commit(name, key)    active -> committed   immutable from then on; may be a parent
    view(key, parent)    -> view       read-only mounts of the parent chain
    remove(key)          refused while children exist

The snapshotter only *describes* mounts (``Mount`` as data); ``mount()``/``unmount()`` below
perform them with mount(2) or the new mount API, so planning is tested without root.

Crash safety: directories are built under ``new-*`` (flock-held while being filled), then
renamed to ``<id>`` inside the metadata transaction that inserts the row, so a crash leaves
either a temp directory or a directory without a row; ``cleanup()`` removes both while
holding the database write lock, when no live prepare can be between rename and COMMIT.
Commit is a single row update. Remove deletes the row first and the directory after, so a
crash leaves at worst an orphan directory, never a row without its files.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import AlreadyExists, InUse, InvalidState, NotFound, StoreError
from .metadata import Lease, MetadataStore, SnapshotRecord

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
FSCONFIG_STRING_MAX = 256  # fsconfig(FSCONFIG_SET_STRING) copies at most 256 bytes

# Crash tests replace this to stop (or kill) the process at a named point.
checkpoint: Callable[[str], None] = lambda point: None  # noqa: E731


@dataclass(frozen=True)
class Mount:
    """One mount to perform, as data: ``mount -t <type> -o <options> <source> <target>``."""

    type: str
    source: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Usage:
    size: int  # bytes allocated on disk (st_blocks * 512, hard links counted once)
    inodes: int


# --- pure planning -------------------------------------------------------------------------------


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


class Snapshotter:
    """What the overlay and copy snapshotters share: rows, directories, crash cleanup."""

    driver = "base"

    def __init__(self, root: str | os.PathLike[str], metadata: MetadataStore) -> None:
        self.root = Path(root) / "snapshots"
        self.root.mkdir(parents=True, exist_ok=True)
        self.metadata = metadata
        self.cleanup()

    # paths

    def _dir(self, snap: SnapshotRecord) -> Path:
        return self.root / str(snap.id)

    def fs_path(self, key: str) -> Path:
        """The directory layers are unpacked into (an active snapshot's upper)."""
        return self._dir(self.stat(key)) / "fs"

    # queries

    def stat(self, key: str) -> SnapshotRecord:
        snap = self.metadata.get_snapshot(key)
        if snap is None:
            raise NotFound("snapshot", key)
        return snap

    def walk(self) -> Iterator[SnapshotRecord]:
        yield from self.metadata.snapshots()

    def usage(self, key: str) -> Usage:
        snap = self.stat(key)
        if snap.kind == "committed" and snap.size is not None and snap.inodes is not None:
            return Usage(snap.size, snap.inodes)  # immutable: measured once, at commit
        return disk_usage(self._dir(snap) / "fs")

    def mounts(self, key: str) -> list[Mount]:
        return self._mounts(self.metadata.snapshot_chain(key))

    # lifecycle

    def prepare(
        self,
        key: str,
        parent: str | None = None,
        labels: dict[str, str] | None = None,
        lease: Lease | None = None,
    ) -> list[Mount]:
        """A new writable snapshot on top of committed ``parent``; its mounts."""
        return self._create("active", key, parent, labels, lease)

    def view(
        self,
        key: str,
        parent: str | None,
        labels: dict[str, str] | None = None,
        lease: Lease | None = None,
    ) -> list[Mount]:
        """A read-only snapshot of committed ``parent``; its mounts."""
        return self._create("view", key, parent, labels, lease)

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> SnapshotRecord:
        """Active ``key`` becomes committed ``name``: immutable, usable as a parent."""
        snap = self.stat(key)
        if snap.kind != "active":
            raise InvalidState("snapshot", key, snap.kind, "commit")
        if self.metadata.get_snapshot(name) is not None:
            raise AlreadyExists("snapshot", name)
        fs = self._dir(snap) / "fs"
        usage = disk_usage(fs)
        # The row will claim a complete, immutable layer: its files must survive a power
        # loss first (a killed process alone loses nothing that is in the page cache).
        _syncfs(fs)
        checkpoint("commit:measured")
        # One row update: a crash before it leaves the active snapshot, after it the committed.
        return self.metadata.commit_snapshot(key, name, usage.size, usage.inodes, labels)

    def remove(self, key: str) -> None:
        """Remove a snapshot; InUse while other snapshots have it as their parent."""
        with self.metadata.transaction():
            snap = self.stat(key)
            children = self.metadata.snapshot_children(key)
            if children:
                raise InUse("snapshot", key, f"{len(children)} child snapshot(s): {children[0]}")
            self.metadata.delete_snapshot(key)
        checkpoint("remove:deleted")
        # After the row is gone: a crash here leaves an orphan directory, which cleanup() removes.
        _rmtree(self._dir(snap))

    def cleanup(self, min_age: float = 10.0) -> list[str]:
        """Remove crash leftovers: temp directories whose creator is gone (and older than
        ``min_age`` seconds) and directories without a row."""
        removed = []
        for entry in list(os.scandir(self.root)):
            if entry.name.startswith("new-") and self._remove_abandoned(Path(entry.path), min_age):
                removed.append(entry.name)
        # Under the write lock no prepare can be between its rename and its COMMIT.
        with self.metadata.transaction():
            ids = {str(s.id) for s in self.metadata.snapshots()}
            for entry in list(os.scandir(self.root)):
                if entry.name.isdigit() and entry.name not in ids:
                    _rmtree(Path(entry.path))
                    removed.append(entry.name)
        return removed

    # internals

    @staticmethod
    def _remove_abandoned(path: Path, min_age: float = 10.0) -> bool:
        """Remove a temp dir whose creator is gone: its flock is free. The age check covers
        the instant between mkdtemp() and flock() in a live prepare."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if time.time() - os.fstat(fd).st_ctime < min_age:
                return False
            _rmtree(path)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    def _create(
        self,
        kind: str,
        key: str,
        parent: str | None,
        labels: dict[str, str] | None,
        lease: Lease | None,
    ) -> list[Mount]:
        if self.metadata.get_snapshot(key) is not None:
            raise AlreadyExists("snapshot", key)
        parent_snap = self._committed_parent(parent, key)
        # Filled outside the write lock (a copy may take long), flock-held so that a
        # concurrent cleanup() knows it is alive.
        tmp = Path(tempfile.mkdtemp(prefix="new-", dir=self.root))
        lock_fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        final: Path | None = None
        try:
            os.mkdir(tmp / "fs", 0o755)
            self._populate(kind, tmp, parent_snap)
            checkpoint("prepare:populated")
            with self.metadata.transaction():
                # Re-checked under the lock: the parent may have been removed meanwhile.
                self._committed_parent(parent, key)
                try:
                    snap = self.metadata.add_snapshot(key, parent, kind, labels, lease)
                except sqlite3.IntegrityError:
                    raise NotFound("snapshot", str(parent)) from None
                final = self._dir(snap)
                if final.exists():
                    # Left by a crashed prepare whose row (and so its id) was rolled back.
                    _rmtree(final)
                os.rename(tmp, final)
                _fsync_dir(self.root)
                checkpoint("prepare:renamed")
        except BaseException:
            _rmtree(tmp)
            if final is not None and self.metadata.get_snapshot(key) is None:
                _rmtree(final)
            raise
        finally:
            os.close(lock_fd)
        return self._mounts(self.metadata.snapshot_chain(key))

    def _committed_parent(self, parent: str | None, key: str) -> SnapshotRecord | None:
        if parent is None:
            return None
        snap = self.metadata.get_snapshot(parent)
        if snap is None:
            raise NotFound("snapshot", parent)
        if snap.kind != "committed":
            raise InvalidState("snapshot", parent, snap.kind, f"use as the parent of {key}")
        return snap

    def _populate(self, kind: str, tmp: Path, parent: SnapshotRecord | None) -> None:
        raise NotImplementedError

    def _mounts(self, chain: Sequence[SnapshotRecord]) -> list[Mount]:
        raise NotImplementedError


class OverlaySnapshotter(Snapshotter):
    """Each snapshot holds one layer's changes; mounts stack the chain with overlayfs."""

    driver = "overlay"

    def __init__(self, root: str | os.PathLike[str], metadata: MetadataStore) -> None:
        super().__init__(root, metadata)
        # Docker and containerd pass index=off where the kernel knows it: with the index on,
        # two mounts sharing a lower layer can refuse to mount after a hard link copy-up.
        self.extra_options: tuple[str, ...] = (
            ("index=off",) if os.path.exists("/sys/module/overlay/parameters/index") else ()
        )

    def _populate(self, kind: str, tmp: Path, parent: SnapshotRecord | None) -> None:
        os.mkdir(tmp / "work", 0o711)

    def _mounts(self, chain: Sequence[SnapshotRecord]) -> list[Mount]:
        if not chain:
            raise NotFound("snapshot", "?")
        snap, parents = chain[0], chain[1:]
        own = self._dir(snap)
        if snap.kind == "committed":
            # A committed snapshot is read-only: its own layer on top of its parents.
            lowers = [str(self._dir(s) / "fs") for s in chain]
            return plan_mounts("view", str(own / "fs"), "", lowers, self.extra_options)
        lowers = [str(self._dir(s) / "fs") for s in parents]
        return plan_mounts(snap.kind, str(own / "fs"), str(own / "work"), lowers,
                           self.extra_options)  # fmt: skip


class CopySnapshotter(Snapshotter):
    """For hosts without overlayfs: every snapshot holds a full tree (Docker's "vfs").

    Layers must then be applied by deleting what whiteouts name rather than by writing
    overlay whiteouts (the archive layer asks ``driver``).
    """

    driver = "copy"

    def _populate(self, kind: str, tmp: Path, parent: SnapshotRecord | None) -> None:
        if parent is None:
            return
        # A view is never written, so hard links are safe and cheap; an active snapshot
        # would write through a hard link into its parent, so it gets a full copy.
        copy_tree(self._dir(parent) / "fs", tmp / "fs", hardlink=(kind == "view"))

    def _mounts(self, chain: Sequence[SnapshotRecord]) -> list[Mount]:
        if not chain:
            raise NotFound("snapshot", "?")
        snap = chain[0]
        mode = "rw" if snap.kind == "active" else "ro"
        return [Mount("bind", str(self._dir(snap) / "fs"), ("rbind", mode))]


def new_snapshotter(
    root: str | os.PathLike[str], metadata: MetadataStore, driver: str = "auto"
) -> Snapshotter:
    """``driver``: "overlay", "copy" or "auto" (overlay when the host supports it here)."""
    if driver == "auto":
        driver = "overlay" if overlay_supported(Path(root) / "snapshots") else "copy"
    if driver == "overlay":
        return OverlaySnapshotter(root, metadata)
    if driver == "copy":
        return CopySnapshotter(root, metadata)
    raise ValueError(f"unknown snapshotter {driver!r}: want overlay, copy or auto")


def chain_key(chain_id: str) -> str:
    """The snapshot key of an unpacked layer stack is its chain ID (containerd's rule)."""
    return chain_id


def _syncfs(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rmtree(path: Path) -> None:
    """Remove a snapshot directory, including overlay's mode-000 ``work/work``."""

    def retry(func: Callable[..., object], p: str, info: tuple) -> None:
        exc = info[1]
        if isinstance(exc, FileNotFoundError):
            return
        if not isinstance(exc, PermissionError):
            raise exc
        # Only reached without CAP_DAC_OVERRIDE (tests as a user): open it up and retry.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, onerror=retry)
        elif os.path.lexists(p):
            os.unlink(p)

    if path.is_symlink() or not path.exists():
        return
    shutil.rmtree(path, onerror=retry)

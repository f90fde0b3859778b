"""Files of a container, as the archive, changes and export endpoints need them.

Every path the client names is a path *inside the container's root*, and the root is
controlled by the container: any component may be a symlink (absolute or climbing with
``..``), and a process in the container may swap a directory for a symlink to ``/`` at
any moment (CVE-2018-15664, ``docker cp``). So nothing here joins strings into host
paths. The root is held as an fd and every lookup is made by the kernel with
``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``: symlinks are followed as the
container would see them and can never lead outside. What is then read or written is
reached through the fd that lookup returned:

- stat (``HEAD .../archive``): the parent is resolved in the root and the last
  component is looked at with ``lstat`` relative to it (Docker's rule: the last component
  is followed only when the path ends in ``/`` or ``/.``);
- read (``GET``): a directory is walked fd-relative, nothing followed
  (``store.archive.walk``); a regular file is pinned with ``O_PATH|O_NOFOLLOW`` before it is
  opened, so a swapped-in device or symlink is never opened;
- write (``PUT``): the destination directory is opened in the root and the tar is
  applied with the safe extractor (``store.archive.extract_layer``, "apply" format) rooted
  at that directory's fd: entries are resolved beneath it, symlinks out refused.

Which root: a running (or paused) container's rootfs mount; for any other container its
writable snapshot is mounted read-write in a private temporary directory for the
operation, and the container's lock is held meanwhile so that it cannot start (and mount
the same upper directory) under us. A path at or under the destination of one of the
container's volumes or directory bind mounts is looked up in that mount's host directory
instead (the deepest such mount, matched lexically on the cleaned path), with the same
``RESOLVE_IN_ROOT`` rule rooted at that directory: a symlink in a volume cannot lead out
of the volume. Only that one mount is followed: a tar of ``/`` does not descend into
mounts below it. A path under a tmpfs mount is refused (501): its files live only in
the container's mount namespace. The files the
engine bind-mounts over the rootfs (``/etc/hosts``, ``/etc/hostname``,
``/etc/resolv.conf``) are seen as the rootfs has them (empty mount targets).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import errno
import json
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from .errors import Conflict, EngineError, InvalidParameter, NotFound

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

# Go's os.FileMode type bits (what X-Docker-Container-Path-Stat carries).
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_NAMED_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHAR_DEVICE = 1 << 21
GO_STICKY = 1 << 20

CHANGE_MODIFY, CHANGE_ADD, CHANGE_DELETE = 0, 1, 2

# What Docker keeps in a container's init layer (never reported by `docker diff`): our
# runtime makes these as mount targets in the writable layer instead.
_INIT_FILES = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
                         "/.dockerenv"})
_INIT_TREES = ("/dev", "/proc", "/sys")


def go_file_mode(mode: int) -> int:
    """An st_mode as Go's os.FileMode (type bits high, permission bits low)."""
    out = mode & 0o777
    if stat.S_ISDIR(mode):
        out |= GO_DIR
    elif stat.S_ISLNK(mode):
        out |= GO_SYMLINK
    elif stat.S_ISFIFO(mode):
        out |= GO_NAMED_PIPE
    elif stat.S_ISSOCK(mode):
        out |= GO_SOCKET
    elif stat.S_ISCHR(mode):
        out |= GO_DEVICE | GO_CHAR_DEVICE
    elif stat.S_ISBLK(mode):
        out |= GO_DEVICE
    if mode & stat.S_ISUID:
        out |= GO_SETUID
    if mode & stat.S_ISGID:
        out |= GO_SETGID
    if mode & stat.S_ISVTX:
        out |= GO_STICKY
    return out


def go_time(ns: int) -> str:
    """Nanoseconds since the epoch as Go's RFC 3339 (trailing fraction zeros trimmed)."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(secs, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{base}{fraction}Z"


@dataclass(frozen=True)
class PathRequest:
    """A client's path, split as Docker splits it.

    ``parent``: the directory part (resolved in the root, symlinks followed);
    ``base``: the last component, "" when the path ends in ``/`` (then the directory
    itself is meant, followed), "." for ``/.`` (the directory's contents);
    ``name``: what the stat and the archive's top entry call it (Go's ``filepath.Base``).
    """

    path: str
    parent: str
    base: str
    name: str


def parse_path(path: str) -> PathRequest:
    if not path:
        raise InvalidParameter("Path cannot be empty")
    if "\x00" in path:
        raise InvalidParameter("invalid path: contains a NUL byte")
    absolute = "/" + path.lstrip("/")
    trailing_dot = absolute.endswith("/.") or absolute == "/."
    trailing_sep = absolute.endswith("/")
    parts = [p for p in absolute.split("/") if p not in ("", ".")]
    # Lexical cleaning of ".." is harmless inside RESOLVE_IN_ROOT; keep it for names.
    clean: list[str] = []
    for p in parts:
        if p == "..":
            if clean:
                clean.pop()
        else:
            clean.append(p)
    if trailing_dot:
        return PathRequest(absolute, "/".join(clean), ".", ".")
    if trailing_sep or not clean:
        return PathRequest(absolute, "/".join(clean), "", clean[-1] if clean else "/")
    return PathRequest(absolute, "/".join(clean[:-1]), clean[-1], clean[-1])


def _openat2(root_fd: int, path: str, flags: int) -> int:
    from dockyard.store.archive.resolve import openat2

    return openat2(root_fd, path or ".", flags | os.O_CLOEXEC, _IN_ROOT)


def _check_openat2() -> None:
    from dockyard.store.archive.resolve import openat2_available

    if not openat2_available():
        raise EngineError("copying files needs openat2(2) (Linux 5.6 or later)")


@dataclass
class Target:
    """What a path names: its parent dir (O_PATH), its lstat, and for a directory a
    readable fd of it. The caller closes through ``close()``."""

    req: PathRequest
    parent_fd: int
    base: str  # the entry's name in parent_fd ("" when fd is the directory itself)
    st: os.stat_result
    fd: int | None = None

    def close(self) -> None:
        for fd in (self.fd, self.parent_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.fd = None
        self.parent_fd = -1


class ContainerFS:
    """One container's root, opened (``root_fd``) for in-root operations."""

    def __init__(self, root_fd: int, root_path: str, container: str,
                 mount: tuple[str, int] | None = None) -> None:
        self.root_fd = root_fd
        self.root_path = root_path
        self.container = container
        #: (destination without the leading "/", fd of its host directory)
        self.mount = mount

    def _locate(self, path: str) -> tuple[int, str, str]:
        """(root fd, path in it, the mount's destination) for the clean in-container
        path ``path`` ("a/b", no leading "/")."""
        if self.mount is not None:
            dest, fd = self.mount
            if path == dest or path.startswith(dest + "/"):
                return fd, path[len(dest):].lstrip("/"), dest
        return self.root_fd, path, ""

    def _not_found(self, path: str) -> NotFound:
        return NotFound(f"Could not find the file {path} in container {self.container}")

    def _lookup_error(self, err: OSError, path: str) -> EngineError:
        if err.errno == errno.ENOENT:
            return self._not_found(path)
        if err.errno == errno.ENOTDIR:
            return Conflict(f"{path}: a parent of the path is not a directory")
        if err.errno == errno.ELOOP:
            return InvalidParameter(f"{path}: too many levels of symbolic links")
        return EngineError(f"{path}: {err.strerror or err}")

    def open_target(self, path: str) -> Target:
        req = parse_path(path)
        full = "/".join(p for p in (req.parent, req.base) if p not in ("", "."))
        root, rel, dest = self._locate(full)
        try:
            if req.base in ("", ".") or (dest and not rel):
                # The directory itself (a mount's destination is its host directory).
                if req.base not in ("", "."):
                    req = PathRequest(req.path, full, "", req.name)
                else:
                    root, rel, _ = self._locate(req.parent)
                fd = _openat2(root, rel, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    parent = os.dup(fd)
                except BaseException:
                    os.close(fd)
                    raise
                return Target(req, parent, "", os.fstat(fd), fd)
            root, rel, _ = self._locate(req.parent)
            parent = _openat2(root, rel, _O_PATH_DIR)
        except OSError as err:
            raise self._lookup_error(err, req.path) from None
        try:
            st = os.stat(req.base, dir_fd=parent, follow_symlinks=False)
            fd = None
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(req.base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, dir_fd=parent)
                st = os.fstat(fd)  # what we will read, should it have been swapped
            return Target(req, parent, req.base, st, fd)
        except OSError as err:
            os.close(parent)
            if err.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped meanwhile
                raise Conflict(f"{req.path} changed while it was being looked at") from None
            raise self._lookup_error(err, req.path) from None

    def link_target(self, target: Target) -> str:
        """Where a symlink leads, as an absolute path in the container (or "")."""
        if not stat.S_ISLNK(target.st.st_mode):
            return ""
        root_fd, rel, dest = self._locate(
            "/".join(p for p in (target.req.parent, target.base) if p))
        try:
            fd = _openat2(root_fd, rel, os.O_PATH)
        except OSError:
            # Dangling: Docker reports the resolved path anyway; the raw target is close.
            return os.readlink(target.base, dir_fd=target.parent_fd)
        try:
            host = os.readlink(f"/proc/self/fd/{fd}")
            root = os.readlink(f"/proc/self/fd/{root_fd}")
        finally:
            os.close(fd)
        prefix = "/" + dest if dest else ""
        if host == root:
            return prefix or "/"
        if host.startswith(root.rstrip("/") + "/"):
            return prefix + host[len(root.rstrip("/")):]
        return os.readlink(target.base, dir_fd=target.parent_fd)

    def stat(self, path: str) -> dict[str, Any]:
        target = self.open_target(path)
        try:
            st = target.st
            return {"name": target.req.name, "size": st.st_size,
                    "mode": go_file_mode(st.st_mode), "mtime": go_time(st.st_mtime_ns),
                    "linkTarget": self.link_target(target)}
        finally:
            target.close()

    def write_archive(self, target: Target, out: IO[bytes]) -> int:
        """The tar of ``target``, its top entry named as the request names it."""
        from dockyard.store.archive.create import _Archiver
        from dockyard.store.archive.walk import Node, walk

        name = target.req.name
        if name == "/":
            name = "."
        archiver = _Archiver(out, overlay=False)
        top = Node((name,), target.parent_fd, target.base, target.st, target.fd)
        archiver.node(top)
        if target.fd is not None:
            for node in walk(target.fd):
                # A copy: walk() goes on from node.parts for the node's children.
                archiver.node(dataclasses.replace(node, parts=(name, *node.parts)))
        return archiver.close()

    def extract(self, path: str, body: IO[bytes], *, no_overwrite_dir_non_dir: bool,
                owner: tuple[int, int] | None) -> None:
        from dockyard.store.archive.errors import ArchiveError
        from dockyard.store.archive.extract import extract_layer

        req = parse_path(path)
        root, rel, _ = self._locate("/".join(p for p in (req.parent, req.base)
                                             if p not in ("", ".")))
        try:
            fd = _openat2(root, rel, _O_PATH_DIR)
        except OSError as err:
            if err.errno == errno.ENOTDIR:
                raise InvalidParameter("extraction point is not a directory") from None
            raise self._lookup_error(err, req.path) from None
        try:
            if no_overwrite_dir_non_dir:
                _check_overwrites(fd, body)
                body.seek(0)
            try:
                # Rooted at the destination's fd (through its /proc/self/fd magic link):
                # entries are resolved beneath it, symlinks leading out are refused.
                extract_layer(body, f"/proc/self/fd/{fd}", whiteout_format="apply")
            except ArchiveError as err:
                raise InvalidParameter(str(err)) from None
            if owner is not None:
                _chown_entries(fd, body, owner)
        finally:
            os.close(fd)


def _members(body: IO[bytes]) -> Iterator[Any]:
    import tarfile

    body.seek(0)
    try:
        with tarfile.open(fileobj=body, mode="r|*") as tar:
            yield from tar
    except tarfile.TarError as err:
        raise InvalidParameter(f"invalid tar archive: {err}") from None


def _entry_parts(name: str) -> tuple[str, ...]:
    from dockyard.store.archive import names

    try:
        return tuple(names.clean(name))
    except (names.EscapesRoot, ValueError):
        raise InvalidParameter(f"{name}: invalid path in archive") from None


def _lstat_beneath(dir_fd: int, parts: tuple[str, ...]) -> os.stat_result | None:
    from dockyard.store.archive.resolve import RESOLVE_BENEATH, openat2

    try:
        parent = openat2(dir_fd, "/".join(parts[:-1]) or ".", _O_PATH_DIR,
                         RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
    except OSError:
        return None
    try:
        return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(parent)


def _check_overwrites(dir_fd: int, body: IO[bytes]) -> None:
    """Docker's noOverwriteDirNonDir: refuse, before writing anything, a directory over a
    non-directory or the reverse (a pre-check: the extraction itself stays safe)."""
    for member in _members(body):
        parts = _entry_parts(member.name)
        if not parts:
            continue
        st = _lstat_beneath(dir_fd, parts)
        if st is None:
            continue
        shown = "/" + "/".join(parts)
        if stat.S_ISDIR(st.st_mode) and not member.isdir():
            raise InvalidParameter(f"cannot overwrite directory \"{shown}\" with non-directory "
                                   f"\"{shown}\"")
        if member.isdir() and not stat.S_ISDIR(st.st_mode):
            raise InvalidParameter(f"cannot overwrite non-directory \"{shown}\" with directory "
                                   f"\"{shown}\"")


def _chown_entries(dir_fd: int, body: IO[bytes], owner: tuple[int, int]) -> None:
    """copyUIDGID: what the archive put in place belongs to the container's user."""
    from dockyard.store.archive.resolve import RESOLVE_BENEATH, openat2

    for member in _members(body):
        parts = _entry_parts(member.name)
        try:
            parent = (os.dup(dir_fd) if not parts else
                      openat2(dir_fd, "/".join(parts[:-1]) or ".", _O_PATH_DIR,
                              RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS))
        except OSError:
            continue
        try:
            if parts:
                os.chown(parts[-1], *owner, dir_fd=parent, follow_symlinks=False)
        except OSError:
            pass
        finally:
            os.close(parent)


# --- which root ---------------------------------------------------------------------------


def _is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


class NotSupported(EngineError):
    status = 501


def mount_for(rec: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The container's deepest mount point at or above ``path`` (lexically), or None.
    A tmpfs there is refused: its files exist only inside the container."""
    req = parse_path(path)
    wanted = "/" + "/".join(p for p in (req.parent, req.base) if p not in ("", "."))
    try:
        points = rec.get("MountPoints")
        if points is None:
            from . import spec

            points = spec.user_mounts(rec.get("HostConfig") or {})
    except EngineError:
        return None
    best = None
    for m in points:
        dest = "/" + "/".join(p for p in m["Destination"].split("/") if p not in ("", "."))
        under = wanted == dest or wanted.startswith(dest.rstrip("/") + "/")
        if under and (best is None or len(dest) > len(best[0])):
            best = (dest, m)
    if best is None:
        return None
    m = best[1]
    if m["Type"] == "tmpfs":
        raise NotSupported(f"{path}: copying into or out of the container's tmpfs mount at "
                           f"{m['Destination']} is not supported")
    return {**m, "Destination": best[0]}


class ContainerFiles:
    """The archive, changes and export operations of a ContainerEngine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @property
    def store(self) -> Any:
        return self.engine.images

    @contextlib.asynccontextmanager
    async def root(self, ref: str, *, writable: bool = True,
                   path: str | None = None) -> AsyncIterator[ContainerFS]:
        """The container's root, open for the duration of the block (``path``: the
        path the operation is about; when it is in a volume or bind mount, that mount's
        directory is opened too and lookups under its destination go there)."""
        _check_openat2()
        live = self.engine._get(ref)
        mp = mount_for(live.rec, path) if path is not None else None
        if mp is None:
            async with self._root(live, writable, ref) as fs:
                yield fs
            return
        async with self._mount_root(live, mp) as mount, self._root(live, writable, ref) as fs:
            fs.mount = mount
            yield fs

    @contextlib.asynccontextmanager
    async def _mount_root(self, live: Any, mp: dict[str, Any]
                          ) -> AsyncIterator[tuple[str, int]]:
        """The host directory of a volume or bind mount, open; a volume is held (mounted
        if it has driver options) for the duration."""
        user = f"cp-{os.urandom(8).hex()}"
        volumes = self.engine.volumes
        if mp["Type"] == "volume":
            source = await asyncio.to_thread(volumes.acquire, mp["Name"], user)
        else:
            source = mp["Source"]
        try:
            try:
                fd = os.open(source, _O_PATH_DIR)
            except OSError as err:
                raise NotSupported(f"{mp['Destination']}: copying into or out of a mount "
                                   f"whose source is not a directory is not supported: "
                                   f"{err.strerror}") from None
            try:
                yield mp["Destination"].lstrip("/"), fd
            finally:
                os.close(fd)
        finally:
            if mp["Type"] == "volume":
                await asyncio.to_thread(volumes.store.release, mp["Name"], user)

    @contextlib.asynccontextmanager
    async def _root(self, live: Any, writable: bool, ref: str) -> AsyncIterator[ContainerFS]:
        rootfs = self.engine.rootfs(live.id)
        async with live.lock:
            root_fd = -1
            if await asyncio.to_thread(_is_mountpoint, rootfs):
                root_fd = os.open(rootfs, _O_PATH_DIR)
        if root_fd >= 0:  # running: its own mount, the lock is not needed any more
            try:
                yield ContainerFS(root_fd, rootfs, ref)
            finally:
                os.close(root_fd)
            return
        async with live.lock:  # not running: it must not start while we hold its layer
            key = live.rec["SnapshotKey"]
            target = await asyncio.to_thread(self._mount_private, key, writable)
            try:
                root_fd = os.open(target, _O_PATH_DIR)
                try:
                    yield ContainerFS(root_fd, target, ref)
                finally:
                    os.close(root_fd)
            finally:
                await asyncio.to_thread(_unmount_private, target)

    def _mount_private(self, key: str, writable: bool) -> str:
        from dockyard.store.mounts import Mount, mount

        mounts = self.store.snapshots.mounts(key)
        if not writable:
            mounts = [Mount(m.type, m.source, (*m.options, "ro")) for m in mounts]
        target = tempfile.mkdtemp(prefix="cp-", dir=str(self.store.root))
        try:
            mount(mounts, target)
        except BaseException:
            os.rmdir(target)
            raise
        return target

    # --- the operations (blocking parts run in threads) -------------------------------

    async def stat(self, ref: str, path: str) -> dict[str, Any]:
        async with self.root(ref, writable=False, path=path) as fs:
            return await asyncio.to_thread(fs.stat, path)

    @contextlib.asynccontextmanager
    async def archive(self, ref: str, path: str
                      ) -> AsyncIterator[tuple[dict[str, Any], Callable[[IO[bytes]], int]]]:
        """``(stat, produce)``: ``produce(out)`` writes the tar of ``path`` (blocking; call
        it from a worker thread within the block)."""
        async with self.root(ref, writable=False, path=path) as fs:
            target = await asyncio.to_thread(fs.open_target, path)
            try:
                info = {"name": target.req.name, "size": target.st.st_size,
                        "mode": go_file_mode(target.st.st_mode),
                        "mtime": go_time(target.st.st_mtime_ns),
                        "linkTarget": await asyncio.to_thread(fs.link_target, target)}
                yield info, lambda out: fs.write_archive(target, out)
            finally:
                target.close()
        self.engine._emit(self.engine._get(ref), "archive-path")

    async def put_archive(self, ref: str, path: str, body: IO[bytes], *,
                          no_overwrite_dir_non_dir: bool = False,
                          copy_uid_gid: bool = False) -> None:
        live = self.engine._get(ref)
        mp = mount_for(live.rec, path)
        if mp is not None and not mp.get("RW", True):
            raise InvalidParameter("mounted volume is marked read-only")
        if mp is None and live.rec["HostConfig"].get("ReadonlyRootfs"):
            raise InvalidParameter("container rootfs is marked read-only")
        async with self.root(ref, path=path) as fs:
            owner = None
            if copy_uid_gid:
                owner = await asyncio.to_thread(_container_owner, fs, live.rec)
            await asyncio.to_thread(fs.extract, path, body,
                                    no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                                    owner=owner)
        self.engine._emit(live, "extract-to-dir")

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        live = self.engine._get(ref)
        return await asyncio.to_thread(container_changes, self.store.snapshots,
                                       live.rec["SnapshotKey"])

    @contextlib.asynccontextmanager
    async def export(self, ref: str) -> AsyncIterator[Callable[[IO[bytes]], int]]:
        """``produce(out)`` writes the merged filesystem as a tar (blocking)."""
        from dockyard.store.archive import write_tree

        async with self.root(ref, writable=False) as fs:
            yield lambda out: write_tree(f"/proc/self/fd/{fs.root_fd}", out)
        self.engine._emit(self.engine._get(ref), "export")


def _unmount_private(target: str) -> None:
    from dockyard.store.mounts import unmount

    try:
        unmount(target, detach=True)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(target)


def _container_owner(fs: ContainerFS, rec: dict[str, Any]) -> tuple[int, int]:
    """The container's user (Config.User) as uid, gid, looked up in its own files."""
    user = (rec.get("Config") or {}).get("User") or ""
    name, _, group = user.partition(":")
    uid = gid = 0

    def table(path: str) -> list[list[str]]:
        try:
            fd = _openat2(fs.root_fd, path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return []
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return []
            text = os.read(fd, 1 << 20).decode("utf-8", "replace")
        finally:
            os.close(fd)
        return [line.split(":") for line in text.splitlines() if line.count(":") >= 3]

    if name:
        if name.isdigit():
            uid = int(name)
            for row in table("etc/passwd"):
                if row[2] == name and row[3].isdigit():
                    gid = int(row[3])
        else:
            for row in table("etc/passwd"):
                if row[0] == name and row[2].isdigit() and row[3].isdigit():
                    uid, gid = int(row[2]), int(row[3])
                    break
            else:
                raise InvalidParameter(f"unable to find user {name}: no matching entries in "
                                       "passwd file")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for row in table("etc/group"):
                if row[0] == group and row[2].isdigit():
                    gid = int(row[2])
                    break
            else:
                raise InvalidParameter(f"unable to find group {group}: no matching entries "
                                       "in group file")
    return uid, gid


# --- changes ------------------------------------------------------------------------------


def _hidden(path: str) -> bool:
    return path in _INIT_FILES or any(path == t or path.startswith(t + "/")
                                      for t in _INIT_TREES)


def header_value(info: dict[str, Any]) -> str:
    """X-Docker-Container-Path-Stat: base64 of the stat's JSON."""
    return base64.b64encode(json.dumps(info).encode()).decode()


def container_changes(snapshots: Any, key: str) -> list[dict[str, Any]]:
    """`docker diff`: the writable layer against the image, sorted by path."""
    chain = snapshots.metadata.snapshot_chain(key)
    upper = str(snapshots.fs_path(chain[0].key))
    lowers = [str(snapshots.fs_path(s.key)) for s in chain[1:]]
    if getattr(snapshots, "driver", "") == "copy":
        found = _copy_changes(upper, lowers[:1])
    else:
        found = _overlay_changes(upper, lowers)
    return [{"Path": p, "Kind": k} for p, k in sorted(found.items())]


def _record(found: dict[str, int], path: str, kind: int) -> None:
    if _hidden(path):
        return
    found[path] = kind
    parent = os.path.dirname(path)
    while parent != "/" and parent not in found:
        found[parent] = CHANGE_MODIFY
        parent = os.path.dirname(parent)


def _copy_changes(upper: str, lowers: list[str]) -> dict[str, int]:
    from dockyard.store.archive.changes import changes
    from dockyard.store.archive.resolve import Root

    found: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        up = stack.enter_context(Root(upper))
        low = [stack.enter_context(Root(d)) for d in lowers]
        for change in changes(up, low):
            path = "/" + "/".join(change.parts)
            if change.deleted:
                _record(found, path, CHANGE_DELETE)
                continue
            st = _lstat_in(low, change.parts)
            if st is None:
                _record(found, path, CHANGE_ADD)
            elif not stat.S_ISDIR(st.st_mode):
                _record(found, path, CHANGE_MODIFY)
            # a directory listed only because something inside it changed: its
            # children's records add it
    return found


def _lstat_in(lowers: list[Any], parts: tuple[str, ...]) -> os.stat_result | None:
    """The entry in the topmost lower that has it (whiteouts hide), never following."""
    from dockyard.store.archive.create import _is_whiteout

    for lower in lowers:
        try:
            parent = lower.open_dir_nofollow(parts[:-1])
        except OSError:
            continue
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except OSError:
            continue
        finally:
            os.close(parent)
        if _is_whiteout(st, {}):
            return None
        return st
    return None


def _overlay_changes(upper: str, lowers: list[str]) -> dict[str, int]:
    from dockyard.store.archive import xattrs
    from dockyard.store.archive.create import _is_whiteout, _opaque
    from dockyard.store.archive.resolve import Root
    from dockyard.store.archive.walk import walk

    found: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        up = stack.enter_context(Root(upper))
        low = [stack.enter_context(Root(d)) for d in lowers]
        for node in walk(up.fd):
            path = "/" + node.arcname
            values = (xattrs.read_all(node.fd) if node.fd is not None
                      else xattrs.of_entry(node.parent_fd, node.name))
            if _is_whiteout(node.st, values):
                _record(found, path, CHANGE_DELETE)
                continue
            lst = _lstat_in(low, node.parts)
            if lst is None:
                _record(found, path, CHANGE_ADD)
                continue
            if stat.S_ISDIR(node.st.st_mode) and node.fd is not None and _opaque(node.fd):
                _record(found, path, CHANGE_MODIFY)
                continue
            if stat.S_ISDIR(node.st.st_mode) and stat.S_ISDIR(lst.st_mode) and (
                    (node.st.st_mode, node.st.st_uid, node.st.st_gid)
                    == (lst.st_mode, lst.st_uid, lst.st_gid)):
                continue  # copied up only because of what is inside
            _record(found, path, CHANGE_MODIFY)
    return found


__all__ = ["ContainerFS", "ContainerFiles", "container_changes", "go_file_mode", "go_time",
           "parse_path"]

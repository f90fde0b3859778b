"""VolumeStore: the ``local`` driver's volumes of one data root.

Rows in the metadata DB's ``volumes`` table, data in ``<root>/<name>/_data`` as
Docker's. Creation is atomic: the directory is made under a temporary name and renamed
into place before the row is written (a crash leaves at most a temporary directory,
removed at the next open, or a directory without a row, also removed). Removal renames
the directory away first, then deletes the row, then the files.

A volume with driver options (``type``/``device``/``o``) is a mount on its ``_data``,
made for its first user and undone after its last (moby's local driver keeps the same
reference count). Users are counted in memory: after a daemon restart the engine
re-acquires for the containers it re-adopts.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

from . import names, options
from .errors import Conflict, InvalidParameter, NotFound

DRIVER = "local"
_TMP = ".tmp-"


class NoSuchVolume(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"get {name}: no such volume")


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(int(ts), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


class VolumeStore:
    def __init__(self, meta: Any, root: str,
                 emit: Callable[[str, str, dict[str, str]], None] | None = None) -> None:
        self.meta = meta
        self.root = os.path.abspath(root)
        self.emit = emit or (lambda action, name, attrs: None)
        self._lock = threading.RLock()
        self._users: dict[str, set[str]] = {}  # mounted for (containers, cp)
        self._refs: dict[str, set[str]] = {}  # referenced by (containers being created)
        os.makedirs(self.root, mode=0o701, exist_ok=True)
        self._collect_garbage()

    # --- paths and rows -----------------------------------------------------------

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def mountpoint(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def _row(self, name: str) -> Any:
        rows = self.meta.query("SELECT * FROM volumes WHERE name = ?", (name,))
        return rows[0] if rows else None

    def _collect_garbage(self) -> None:
        known = {r["name"] for r in self.meta.query("SELECT name FROM volumes")}
        for entry in os.listdir(self.root):
            if entry.startswith(_TMP) or entry not in known:
                full = os.path.join(self.root, entry)
                if not _is_mountpoint(os.path.join(full, "_data")):
                    shutil.rmtree(full, ignore_errors=True)

    def volume(self, row: Any) -> dict[str, Any]:
        """Docker's Volume object."""
        labels = json.loads(row["labels"]) or None
        opts = json.loads(row["options"]) or None
        return {"CreatedAt": rfc3339(row["created"]), "Driver": row["driver"],
                "Labels": labels, "Mountpoint": row["mountpoint"], "Name": row["name"],
                "Options": opts, "Scope": "local"}

    # --- create, get, list ----------------------------------------------------------

    def create(self, name: str | None = None, driver: str | None = None,
               opts: dict[str, str] | None = None, labels: dict[str, str] | None = None,
               ref: str | None = None, anonymous: bool = False
               ) -> tuple[dict[str, Any], bool]:
        """(Volume, created): an existing volume of that name is returned as it is.
        ``ref``: a container that references the volume from now on (until ``unref``),
        taken under the same lock, so that no removal can slip in between. No name: a
        generated one; ``anonymous``: a container's anonymous volume (labelled as Docker
        labels them, for ``rm -v`` and ``volume prune``)."""
        driver = driver or DRIVER
        if driver != DRIVER:
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" '
                           "not found")
        labels = dict(labels or {})
        if not name:
            name = names.anonymous()
        if anonymous:
            labels.setdefault(names.ANONYMOUS_LABEL, "")
        names.validate(name)
        try:
            options.validate(opts)
        except InvalidParameter as err:
            raise InvalidParameter(f"create {name}: {err.message}") from None
        with self._lock:
            row = self._row(name)
            if row is not None:
                if ref is not None:
                    self._refs.setdefault(name, set()).add(ref)
                return self.volume(row), False
            final = self.path(name)
            if os.path.lexists(final):  # no row: a leftover of a crash
                shutil.rmtree(final, ignore_errors=True)
            tmp = os.path.join(self.root, f"{_TMP}{secrets.token_hex(8)}")
            os.mkdir(tmp, 0o701)
            try:
                os.mkdir(os.path.join(tmp, "_data"), 0o755)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            try:
                self.meta.query(
                    "INSERT INTO volumes(name, driver, mountpoint, created, options, labels)"
                    " VALUES(?,?,?,?,?,?)",
                    (name, driver, self.mountpoint(name), time.time(),
                     json.dumps(opts or {}), json.dumps(labels)))
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                raise
            row = self._row(name)
            if ref is not None:
                self._refs.setdefault(name, set()).add(ref)
        self.emit("create", name, {"driver": driver})
        return self.volume(row), True

    def get(self, name: str) -> dict[str, Any]:
        row = self._row(name)
        if row is None:
            raise NoSuchVolume(name)
        return self.volume(row)

    def exists(self, name: str) -> bool:
        return self._row(name) is not None

    def list(self) -> list[dict[str, Any]]:
        return [self.volume(r) for r in self.meta.query("SELECT * FROM volumes ORDER BY name")]

    # --- remove -----------------------------------------------------------------------

    def remove(self, name: str, users: list[str] | None = None) -> None:
        """Remove the volume; ``users``: the containers referencing it (refused if any)."""
        with self._lock:
            if self._row(name) is None:
                raise NoSuchVolume(name)
            busy = [*(users or []), *sorted((self._refs.get(name, set())
                                             | self._users.get(name, set())) - set(users or []))]
            if busy:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(busy)}]")
            data = self.mountpoint(name)
            if _is_mountpoint(data):
                self._unmount(data)
            gone = os.path.join(self.root, f"{_TMP}{secrets.token_hex(8)}")
            os.rename(self.path(name), gone)
            self.meta.query("DELETE FROM volumes WHERE name = ?", (name,))
            shutil.rmtree(gone, ignore_errors=True)
        self.emit("destroy", name, {"driver": DRIVER})

    # --- use by containers --------------------------------------------------------------

    def acquire(self, name: str, user: str) -> str:
        """The volume's host path for ``user`` (a container ID); mounts it if it has
        options and nobody uses it yet."""
        with self._lock:
            row = self._row(name)
            if row is None:
                raise NoSuchVolume(name)
            plan = options.mount_plan(json.loads(row["options"]))
            data = self.mountpoint(name)
            if plan is not None and not _is_mountpoint(data):
                self._mount(plan, data)
            self._users.setdefault(name, set()).add(user)
            return data

    def release(self, name: str, user: str) -> None:
        with self._lock:
            users = self._users.get(name)
            if users is None or user not in users:
                return
            users.discard(user)
            if users:
                return
            del self._users[name]
            data = self.mountpoint(name)
            row = self._row(name)
            if row is not None and options.mount_plan(json.loads(row["options"])) \
                    and _is_mountpoint(data):
                self._unmount(data)

    def unref(self, name: str, ref: str) -> None:
        with self._lock:
            refs = self._refs.get(name)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del self._refs[name]

    def settle(self) -> None:
        """Unmount the volumes nobody uses (their last user exited while the daemon
        was down)."""
        with self._lock:
            for row in self.meta.query("SELECT name, options FROM volumes"):
                data = self.mountpoint(row["name"])
                if not self._users.get(row["name"]) and _is_mountpoint(data) \
                        and options.mount_plan(json.loads(row["options"])):
                    with contextlib.suppress(OSError):
                        self._unmount(data)

    def in_use_by(self, name: str) -> set[str]:
        return set(self._users.get(name, ()))

    def _mount(self, plan: options.MountPlan, target: str) -> None:
        from dockyard.store.mounts import Mount, mount

        opts = list(plan.flags)
        if plan.data:
            opts.append(plan.data)
        try:
            if plan.fstype == "bind":
                mount([Mount("bind", plan.device, tuple(opts))], target)
            else:
                mount([Mount(plan.fstype or "none", plan.device, tuple(opts))], target)
        except OSError as err:
            raise InvalidParameter(
                f"error while mounting volume '{target}': failed to mount local volume: "
                f"mount {plan.device}:{target}, data: {plan.data}: "
                f"{err.strerror or err}") from None

    @staticmethod
    def _unmount(target: str) -> None:
        from dockyard.store.mounts import unmount

        try:
            unmount(target)
        except OSError:
            unmount(target, detach=True)

    # --- sizes --------------------------------------------------------------------------

    def size(self, name: str) -> int:
        """Bytes of the regular files under ``_data`` (each inode once), as moby's
        directory.Size."""
        from dockyard.store.archive.walk import walk

        try:
            fd = os.open(self.mountpoint(name), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                         | os.O_CLOEXEC)
        except OSError:
            return 0
        seen: set[tuple[int, int]] = set()
        total = 0
        try:
            for node in walk(fd):
                st = node.st
                if stat.S_ISDIR(st.st_mode):
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                total += st.st_size
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        return total

"""The engine's side of volumes: a container's mount points from create to removal.

- ``prepare`` (create): plan the mount points (volume.mountspec), take
  ``--volumes-from`` from the named containers, create the missing volumes (named ones
  by their name, anonymous ones with a generated name); on error, the volumes made by
  this call are removed again.
- ``setup`` (start): acquire each volume (a volume with driver options is mounted for its
  first user), fill an empty one from the image (copy-up), make a missing ``-v`` host
  directory; returns the mount points with their host sources for the OCI spec.
- ``teardown`` (exit, failed start): release what ``setup`` acquired.
- ``forget`` (container removal): with ``rm -v`` / ``--rm``, remove its anonymous volumes.

Volume events (create, mount, unmount, destroy) go to the engine's listeners.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from dockyard.volume import copyup, mountspec, names
from dockyard.volume.errors import VolumeError
from dockyard.volume.store import NoSuchVolume, VolumeStore

from .errors import Conflict, EngineError, InvalidParameter, NotFound

F = TypeVar("F", bound=Callable[..., Any])
_BY_STATUS: dict[int, type[EngineError]] = {400: InvalidParameter, 404: NotFound,
                                            409: Conflict}


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """volume/'s errors as the engine's (same message, same status)."""
    try:
        yield
    except VolumeError as err:
        raise _BY_STATUS.get(err.status, EngineError)(err.message) from None


def _engine_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

log = logging.getLogger("dockyard.engine")


class VolumeService:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.store = VolumeStore(engine.meta, os.path.join(engine.data_root, "volumes"),
                                 emit=self._emit)

    def _emit(self, action: str, name: str, attrs: dict[str, str]) -> None:
        now = time.time_ns()
        event = {"Type": "volume", "Action": action, "Actor": {"ID": name, "Attributes": attrs},
                 "scope": "local", "time": now // 10**9, "timeNano": now}
        for listener in list(self.engine._listeners):
            with contextlib.suppress(Exception):
                listener(event)

    # --- who uses what ----------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        return [live.rec for live in list(self.engine._live.values())]

    def users(self, name: str) -> list[str]:
        """IDs of the containers (any state) whose mount points name the volume."""
        return [rec["ID"] for rec in self.records()
                if any(mp.get("Type") == "volume" and mp.get("Name") == name
                       for mp in rec.get("MountPoints") or [])]

    def ref_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self.records():
            for name in {mp.get("Name") for mp in rec.get("MountPoints") or []
                         if mp.get("Type") == "volume"}:
                counts[name] = counts.get(name, 0) + 1
        return counts

    # --- create ------------------------------------------------------------------------

    @_engine_errors
    def prepare(self, cid: str, config: dict[str, Any], host_config: dict[str, Any],
                image_cfg: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """(mount points, names of the volumes this call created)."""
        inherited: list[dict[str, Any]] = []
        for spec in host_config.get("VolumesFrom") or []:
            ref, mode = mountspec.parse_volumes_from(spec)
            try:
                other = self.engine._get(ref)
            except NotFound:
                raise NotFound(f"No such container: {ref}") from None
            for mp in other.rec.get("MountPoints") or []:
                if mp["Type"] in ("volume", "bind"):
                    inherited.append(mountspec.inherit(mp, mode))
        wanted = [*(image_cfg.get("Volumes") or {}), *(config.get("Volumes") or {})]
        points = mountspec.plan(host_config, wanted, inherited)
        made: list[str] = []
        try:
            for mp in points:
                if mp["Type"] != "volume":
                    continue
                if mp["Driver"] not in ("", "local"):
                    raise NotFound(f'error looking up volume plugin {mp["Driver"]}: plugin '
                                   f'"{mp["Driver"]}" not found')
                vol, created = self.store.create(
                    mp.get("Name") or None, opts=mp.get("DriverOpts") or None,
                    labels=mp.get("VolumeLabels") or None, ref=cid,
                    anonymous=not mp.get("Name"))
                if created:
                    made.append(vol["Name"])
                mp["Name"] = vol["Name"]
                mp["Source"] = vol["Mountpoint"]
                mp["Driver"] = vol["Driver"]
        except BaseException:
            self.abandon(cid, made, points)
            raise
        return points, made

    def abandon(self, cid: str, made: list[str],
                points: list[dict[str, Any]] | None = None) -> None:
        """The container was not created after all: drop its references, remove the
        volumes made for it."""
        for name in {mp.get("Name") for mp in points or [] if mp.get("Name")} | set(made):
            self.store.unref(name, cid)
        for name in made:
            with contextlib.suppress(Exception):
                self.store.remove(name)

    # --- start and exit ------------------------------------------------------------------

    @_engine_errors
    def setup(self, rec: dict[str, Any], rootfs: str) -> list[dict[str, Any]]:
        cid = rec["ID"]
        points = rec.get("MountPoints")
        if points is None:  # a record from before volumes: its mounts as spec.py parses
            from . import spec as _spec

            return _spec.user_mounts(rec["HostConfig"])
        out = []
        try:
            for mp in points:
                mp = dict(mp)
                if mp["Type"] == "volume":
                    path = self.store.acquire(mp["Name"], cid)
                    mp["Source"] = path
                    if mp.get("CopyData"):
                        try:
                            copyup.copy_up(rootfs, mp["Destination"], path)
                        except OSError as err:
                            raise InvalidParameter(
                                f"failed to copy file info for {path}: {err}") from None
                    self._emit("mount", mp["Name"], {
                        "container": cid, "destination": mp["Destination"],
                        "driver": mp.get("Driver") or "local", "propagation": "",
                        "read/write": "true" if mp.get("RW", True) else "false"})
                elif mp["Type"] == "bind" and not os.path.exists(mp["Source"]):
                    if not mp.get("CreateSource"):
                        raise InvalidParameter(
                            'invalid mount config for type "bind": bind source path '
                            f'does not exist: {mp["Source"]}')
                    os.makedirs(mp["Source"], 0o755, exist_ok=True)
                out.append(mp)
        except BaseException:
            self.teardown(rec)
            raise
        return out

    def teardown(self, rec: dict[str, Any]) -> None:
        cid = rec["ID"]
        for mp in rec.get("MountPoints") or []:
            if mp["Type"] == "volume" and cid in self.store.in_use_by(mp["Name"]):
                try:
                    self.store.release(mp["Name"], cid)
                except Exception:
                    log.exception("release volume %s", mp["Name"])
                self._emit("unmount", mp["Name"], {"container": cid,
                                                   "driver": mp.get("Driver") or "local"})

    def adopt(self, rec: dict[str, Any]) -> None:
        """A container re-adopted after a daemon restart still uses its volumes."""
        for mp in rec.get("MountPoints") or []:
            if mp["Type"] == "volume":
                with contextlib.suppress(Exception):
                    self.store.acquire(mp["Name"], rec["ID"])

    def forget(self, rec: dict[str, Any], remove_anonymous: bool) -> None:
        """The container is gone: remove its anonymous volumes if asked (those that
        no other container uses)."""
        self.teardown(rec)
        for mp in rec.get("MountPoints") or []:
            if mp.get("Type") == "volume" and mp.get("Name"):
                self.store.unref(mp["Name"], rec["ID"])
        if not remove_anonymous:
            return
        for mp in rec.get("MountPoints") or []:
            if mp["Type"] != "volume" or mp.get("Origin") == "volumes-from":
                continue
            try:
                vol = self.store.get(mp["Name"])
            except NoSuchVolume:
                continue
            if not names.is_anonymous(vol.get("Labels")):
                continue
            users = [c for c in self.users(mp["Name"]) if c != rec["ID"]]
            if users:
                continue
            try:
                self.store.remove(mp["Name"])
            except Exception:
                log.exception("remove volume %s", mp["Name"])

    # --- inspect ---------------------------------------------------------------------------

    @staticmethod
    def inspect_mounts(rec: dict[str, Any]) -> list[dict[str, Any]]:
        points = rec.get("MountPoints")
        if points is None:
            from . import spec as _spec

            points = _spec.user_mounts(rec["HostConfig"])
        # --tmpfs mounts are not mount points for Docker (inspect does not list them).
        return [mountspec.inspect_entry(mp) for mp in points if mp.get("Origin") != "tmpfs"]

    # --- the API's operations --------------------------------------------------------------

    @_engine_errors
    def create(self, name: str | None, driver: str | None, opts: dict[str, str] | None,
               labels: dict[str, str] | None) -> dict[str, Any]:
        return self.store.create(name, driver, opts, labels)[0]

    @_engine_errors
    def get(self, name: str) -> dict[str, Any]:
        return self.store.get(name)

    @_engine_errors
    def acquire(self, name: str, user: str) -> str:
        return self.store.acquire(name, user)

    @_engine_errors
    def remove(self, name: str, force: bool = False) -> None:
        try:
            self.store.remove(name, users=self.users(name))
        except NoSuchVolume:
            if not force:
                raise

    @_engine_errors
    def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        from dockyard.volume import filters as _filters

        _filters.check(filters, _filters.PRUNE_KEYS)
        every = _filters.prune_all(filters)
        used = self.ref_counts()
        deleted, space = [], 0
        for vol in self.store.list():
            if used.get(vol["Name"]):
                continue
            if not every and not names.is_anonymous(vol.get("Labels")):
                continue
            if not _filters.matches(vol, {k: v for k, v in filters.items() if k != "all"},
                                    False):
                continue
            size = self.store.size(vol["Name"])
            try:
                self.store.remove(vol["Name"], users=self.users(vol["Name"]))
            except Exception:
                continue
            deleted.append(vol["Name"])
            space += size
        # moby's PruneReport: null, not [], when nothing was deleted.
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": space}

    @_engine_errors
    def list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        from dockyard.volume import filters as _filters

        _filters.check(filters, _filters.LIST_KEYS)
        used = self.ref_counts()
        return [v for v in self.store.list()
                if _filters.matches(v, filters, bool(used.get(v["Name"])))]

    def usage(self) -> list[dict[str, Any]]:
        used = self.ref_counts()
        out = []
        for vol in self.store.list():
            vol["UsageData"] = {"Size": self.store.size(vol["Name"]),
                                "RefCount": used.get(vol["Name"], 0)}
            out.append(vol)
        return out

"""What a container mounts: ``-v`` (HostConfig.Binds), ``--mount`` (HostConfig.Mounts),
``--tmpfs``, VOLUMEs (Config.Volumes and the image's), ``--volumes-from``, as a list of
mount points (moby's volume/mounts linux parser and registerMountPoints order).

Pure: a mount point is a plain dict kept in the container's record (``MountPoints``):
``Type`` (bind, volume, tmpfs), ``Name`` (volume; "" until an anonymous one is named),
``Source`` (host path; a volume's once resolved), ``Destination``, ``Driver``, ``Mode``,
``RW``, ``Propagation``, ``CopyData`` (copy-up on first use), ``Origin`` (binds, mounts,
tmpfs, config, volumes-from), ``DriverOpts``/``VolumeLabels`` (``--mount volume-opt``,
``volume-label``), ``CreateSource`` (``-v /host:...`` makes a missing host dir),
``Options`` (tmpfs mount options).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from .errors import InvalidParameter

MountPoint = dict[str, Any]

PROPAGATION = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
_LABEL_MODES = ("z", "Z")
_RW_MODES = ("ro", "rw")
_CONSISTENCY = ("consistent", "cached", "delegated")


def _clean(path: str) -> str:
    return os.path.normpath(path) if path else path


def _config_error(kind: str, message: str) -> InvalidParameter:
    return InvalidParameter(f'invalid mount config for type "{kind}": {message}')


def _check_target(kind: str, target: str, raw: str | None = None) -> None:
    if not target:
        raise _config_error(kind, "field Target must not be empty")
    if not target.startswith("/"):
        err = _config_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
        if raw is not None:
            raise InvalidParameter(f"invalid volume specification: '{raw}': {err.message}")
        raise err
    if _clean(target) == "/":
        raise InvalidParameter("invalid specification: destination can't be '/'")


def _modes(mode: str, kind: str) -> list[str]:
    seen: dict[str, str] = {}
    words = [w for w in mode.split(",") if w] if mode else []
    for word in words:
        if word in _RW_MODES:
            group = "rw"
        elif word in _LABEL_MODES:
            group = "label"
        elif word in PROPAGATION:
            group = "propagation"
            if kind == "volume":
                raise InvalidParameter(f"invalid mode: {mode}")
        elif word in _CONSISTENCY:
            group = "consistency"
        elif word == "nocopy":
            group = "copy"
            if kind == "bind":
                raise InvalidParameter(f"invalid mode: {mode}")
        else:
            raise InvalidParameter(f"invalid mode: {mode}")
        if group in seen:
            raise InvalidParameter(f"invalid mode: {mode}")
        seen[group] = word
    return words


def parse_bind(raw: str) -> MountPoint:
    """One ``HostConfig.Binds`` entry: ``src:dst[:mode]``; a src that is not an absolute
    path names a volume."""
    parts = raw.split(":")
    if len(parts) == 2:
        src, dst, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        src, dst, mode = parts
    else:
        raise InvalidParameter(f"invalid volume specification: '{raw}'")
    if not src:
        raise InvalidParameter(f"invalid volume specification: '{raw}'")
    kind = "bind" if src.startswith("/") else "volume"
    _check_target(kind, dst, raw)
    words = _modes(mode, kind)
    mp: MountPoint = {"Type": kind, "Destination": _clean(dst), "RW": "ro" not in words,
                      "Mode": mode, "Origin": "binds"}
    if kind == "bind":
        mp.update(Source=_clean(src), Name="", Driver="", CopyData=False, CreateSource=True,
                  Propagation=next((w for w in words if w in PROPAGATION), "rprivate"))
    else:
        mp.update(Source="", Name=src, Driver="local", Propagation="",
                  CopyData="nocopy" not in words, Mode=mode or "z")
    return mp


def parse_mount(m: dict[str, Any], exists: Callable[[str], bool] = os.path.exists
                ) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (``--mount``), validated as moby does."""
    kind = m.get("Type") or ""
    target = m.get("Target") or ""
    source = m.get("Source") or ""
    bind_opts = m.get("BindOptions")
    vol_opts = m.get("VolumeOptions")
    tmpfs_opts = m.get("TmpfsOptions")
    if kind not in ("bind", "volume", "tmpfs"):
        if kind in ("npipe", "cluster", "image"):
            raise _config_error(kind, f"mount type {kind!s} is not supported")
        raise _config_error(kind, "mount type unknown")
    _check_target(kind, target)
    for name, value, allowed in (("BindOptions", bind_opts, "bind"),
                                 ("VolumeOptions", vol_opts, "volume"),
                                 ("TmpfsOptions", tmpfs_opts, "tmpfs")):
        if value and kind != allowed:
            raise _config_error(kind, f"field {name} must not be specified")
    rw = not m.get("ReadOnly")
    base: MountPoint = {"Type": kind, "Destination": _clean(target), "RW": rw, "Mode": "",
                        "Origin": "mounts"}
    if kind == "bind":
        if not source:
            raise _config_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _config_error(
                kind, f"invalid mount path: '{source}' mount path must be absolute")
        if not exists(source):
            raise _config_error(kind, f"bind source path does not exist: {source}")
        prop = (bind_opts or {}).get("Propagation") or "rprivate"
        if prop not in PROPAGATION:
            raise _config_error(kind, f"invalid propagation mode: {prop}")
        base.update(Source=_clean(source), Name="", Driver="", Propagation=prop,
                    CopyData=False, CreateSource=False)
        return base
    if kind == "volume":
        opts = vol_opts or {}
        driver = (opts.get("DriverConfig") or {}).get("Name") or "local"
        base.update(Source="", Name=source, Driver=driver, Propagation="",
                    CopyData=not opts.get("NoCopy"),
                    DriverOpts=dict((opts.get("DriverConfig") or {}).get("Options") or {}),
                    VolumeLabels=dict(opts.get("Labels") or {}))
        if opts.get("Subpath"):
            raise _config_error(kind, "volume subpath is not supported")
        return base
    if source:
        raise _config_error(kind, "field Source must not be specified")
    options = []
    opts = tmpfs_opts or {}
    if opts.get("SizeBytes"):
        if int(opts["SizeBytes"]) < 0:
            raise _config_error(kind, "invalid tmpfs size")
        options.append(f"size={int(opts['SizeBytes'])}")
    if opts.get("Mode"):
        options.append(f"mode={int(opts['Mode']):o}")
    base.update(Source="", Name="", Driver="", Propagation="", CopyData=False,
                Mode=",".join(options), Options=options)
    return base


def parse_tmpfs(dest: str, options: str) -> MountPoint:
    """One ``HostConfig.Tmpfs`` entry (``--tmpfs /run:size=64m``)."""
    _check_target("tmpfs", dest)
    return {"Type": "tmpfs", "Source": "", "Name": "", "Driver": "",
            "Destination": _clean(dest), "RW": "ro" not in options.split(","),
            "Mode": options, "Propagation": "", "CopyData": False, "Origin": "tmpfs",
            "Options": [o for o in options.split(",") if o]}


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``container[:ro|:rw]`` -> (container, mode)."""
    ref, _, mode = spec.partition(":")
    if not ref:
        raise InvalidParameter(f"invalid volumes-from spec: {spec}")
    if mode and mode not in ("ro", "rw") and not all(
            w in ("ro", "rw", "z", "Z", "nocopy") for w in mode.split(",")):
        raise InvalidParameter(f"invalid mode: {mode}")
    return ref, mode


def inherit(mp: MountPoint, mode: str) -> MountPoint:
    """A mount point of a ``--volumes-from`` container, for this one."""
    out = dict(mp)
    words = mode.split(",") if mode else []
    if words:
        out["RW"] = "ro" not in words and bool(mp.get("RW", True) or "rw" in words)
        if "rw" in words:
            out["RW"] = True
    out.update(Origin="volumes-from", CopyData=False, CreateSource=False)
    return out


def plan(host_config: dict[str, Any], config_volumes: Iterable[str] = (),
         inherited: Iterable[MountPoint] = (),
         exists: Callable[[str], bool] = os.path.exists) -> list[MountPoint]:
    """Every mount point of a container, in moby's order: volumes-from first (binds and
    mounts replace them), binds, mounts (a duplicate of a bind is refused), tmpfs, then an
    anonymous volume for each VOLUME whose destination nothing mounts yet."""
    by_dest: dict[str, MountPoint] = {}
    for mp in inherited:
        by_dest[mp["Destination"]] = mp
    user: set[str] = set()
    for raw in host_config.get("Binds") or []:
        mp = parse_bind(raw)
        if mp["Destination"] in user:
            raise InvalidParameter(f"Duplicate mount point: {mp['Destination']}")
        user.add(mp["Destination"])
        by_dest[mp["Destination"]] = mp
    for m in host_config.get("Mounts") or []:
        mp = parse_mount(m, exists)
        if mp["Destination"] in user:
            raise InvalidParameter(f"Duplicate mount point: {mp['Destination']}")
        user.add(mp["Destination"])
        by_dest[mp["Destination"]] = mp
    for dest, options in (host_config.get("Tmpfs") or {}).items():
        mp = parse_tmpfs(dest, options or "")
        if mp["Destination"] in user:
            raise InvalidParameter(f"Duplicate mount point: {mp['Destination']}")
        user.add(mp["Destination"])
        by_dest[mp["Destination"]] = mp
    for raw in config_volumes:
        dest = raw.split(":")[0] if ":" in raw else raw
        _check_target("volume", dest)
        dest = _clean(dest)
        if dest in by_dest:
            continue
        by_dest[dest] = {"Type": "volume", "Name": "", "Source": "", "Destination": dest,
                         "Driver": "local", "Mode": "", "RW": True, "Propagation": "",
                         "CopyData": True, "Origin": "config", "Anonymous": True}
    # Parents before children, so a nested mount lands on top of its parent's.
    return sorted(by_dest.values(), key=lambda mp: mp["Destination"].count("/"))


def inspect_entry(mp: MountPoint) -> dict[str, Any]:
    """inspect's ``Mounts`` entry (and ``ps``'s)."""
    out: dict[str, Any] = {"Type": mp["Type"]}
    if mp["Type"] == "volume":
        out["Name"] = mp.get("Name", "")
    out.update(Source=mp.get("Source", ""), Destination=mp["Destination"])
    if mp["Type"] == "volume":
        out["Driver"] = mp.get("Driver") or "local"
    out.update(Mode=mp.get("Mode", ""), RW=bool(mp.get("RW", True)),
               Propagation=mp.get("Propagation", ""))
    return out

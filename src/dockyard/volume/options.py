"""The local driver's options (``volume create -o``): moby's local_unix.go rules.

``type`` + ``device`` (+ ``o``) make the volume a mount of ``device`` on its ``_data``
directory, made when the first container uses the volume and undone after the last.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidParameter

VALID = ("type", "o", "device", "size")
MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def validate(opts: dict[str, str] | None) -> None:
    if not opts:
        return
    for key in opts:
        if key not in VALID:
            raise InvalidParameter(f'invalid option: "{key}"')
    for key, required in MANDATORY.items():
        if key in opts:
            for other in required:
                if other not in opts:
                    raise InvalidParameter(f'missing required option: "{other}"')
    if "size" in opts:
        raise InvalidParameter("quota size requested but no quota support")
    kind = opts.get("type", "")
    if kind in ("none", "bind") and not opts.get("device", "").startswith("/"):
        raise InvalidParameter("bind mount device must be an absolute path")
    mount_plan(opts)  # the o= options must parse


@dataclass(frozen=True)
class MountPlan:
    fstype: str | None
    device: str
    flags: tuple[str, ...]  # flag words store.mounts knows (ro, nosuid, bind, ...)
    data: str


_FLAG_WORDS = {"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync",
               "async", "remount", "mand", "nomand", "dirsync", "noatime", "atime",
               "nodiratime", "diratime", "bind", "rbind", "relatime", "norelatime",
               "strictatime", "nostrictatime"}


def mount_plan(opts: dict[str, str]) -> MountPlan | None:
    """What to mount on ``_data`` for these options (None: a plain directory)."""
    if not opts or not opts.get("type"):
        return None
    flags: list[str] = []
    data: list[str] = []
    for word in (w for w in opts.get("o", "").split(",") if w):
        (flags if word in _FLAG_WORDS else data).append(word)
    kind = opts["type"]
    if kind in ("none", "bind") or "bind" in flags or "rbind" in flags:
        if "bind" not in flags and "rbind" not in flags:
            flags.append("bind")
        return MountPlan("bind", opts["device"], tuple(flags), ",".join(data))
    return MountPlan(kind, opts["device"], tuple(flags), ",".join(data))

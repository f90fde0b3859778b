"""Mount options of config.json translated into mount(2) flags (pure)."""

from __future__ import annotations

from .linux import constants as c
from .records import factory, record

# option -> (flags to set, flags to clear)
_FLAGS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (c.MS_RDONLY, 0),
    "rw": (0, c.MS_RDONLY),
    "nosuid": (c.MS_NOSUID, 0),
    "suid": (0, c.MS_NOSUID),
    "nodev": (c.MS_NODEV, 0),
    "dev": (0, c.MS_NODEV),
    "noexec": (c.MS_NOEXEC, 0),
    "exec": (0, c.MS_NOEXEC),
    "sync": (c.MS_SYNCHRONOUS, 0),
    "async": (0, c.MS_SYNCHRONOUS),
    "dirsync": (c.MS_DIRSYNC, 0),
    "remount": (c.MS_REMOUNT, 0),
    "mand": (c.MS_MANDLOCK, 0),
    "nomand": (0, c.MS_MANDLOCK),
    "atime": (0, c.MS_NOATIME),
    "noatime": (c.MS_NOATIME, 0),
    "diratime": (0, c.MS_NODIRATIME),
    "nodiratime": (c.MS_NODIRATIME, 0),
    "relatime": (c.MS_RELATIME, 0),
    "norelatime": (0, c.MS_RELATIME),
    "strictatime": (c.MS_STRICTATIME, 0),
    "nostrictatime": (0, c.MS_STRICTATIME),
    "lazytime": (c.MS_LAZYTIME, 0),
    "nolazytime": (0, c.MS_LAZYTIME),
    "iversion": (c.MS_I_VERSION, 0),
    "noiversion": (0, c.MS_I_VERSION),
    "silent": (c.MS_SILENT, 0),
    "loud": (0, c.MS_SILENT),
    "nosymfollow": (c.MS_NOSYMFOLLOW, 0),
    "symfollow": (0, c.MS_NOSYMFOLLOW),
    "bind": (c.MS_BIND, 0),
    "rbind": (c.MS_BIND | c.MS_REC, 0),
}

_PROPAGATION: dict[str, int] = {
    "private": c.MS_PRIVATE,
    "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED,
    "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE,
    "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE,
    "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}

# mount_setattr(2) attributes for the recursive "r*" options.
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

_RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0),
    "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}
# The atime attributes are one 3-bit field: setting one means clearing the whole
# field and setting the new value (relatime is the value 0).
_RECURSIVE_ATIME: dict[str, int] = {
    "rnoatime": MOUNT_ATTR_NOATIME,
    "rstrictatime": MOUNT_ATTR_STRICTATIME,
    "rrelatime": 0,
    "ratime": 0,
    "rnorelatime": 0,
    "rnostrictatime": 0,
}


@record
class MountOptions:
    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    attr_set: int = 0
    attr_clear: int = 0
    extensions: frozenset[str] = factory(frozenset)  # tmpcopyup, ...

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & c.MS_BIND)

    @property
    def recursive_attrs(self) -> bool:
        return bool(self.attr_set or self.attr_clear)


def parse_options(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Split options into mount(2) flags, propagation changes, mount_setattr(2)
    attributes and the data string; unknown options go to data, as the spec says."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    attr_set = attr_clear = 0
    extensions: set[str] = set()
    for option in options:
        if option in _FLAGS:
            set_bits, clear_bits = _FLAGS[option]
            flags = (flags | set_bits) & ~clear_bits
        elif option in _PROPAGATION:
            propagation.append(_PROPAGATION[option])
        elif option in _RECURSIVE:
            set_bits, clear_bits = _RECURSIVE[option]
            attr_set = (attr_set | set_bits) & ~clear_bits
            attr_clear = (attr_clear | clear_bits) & ~set_bits
        elif option in _RECURSIVE_ATIME:
            attr_set = (attr_set & ~MOUNT_ATTR__ATIME) | _RECURSIVE_ATIME[option]
            attr_clear |= MOUNT_ATTR__ATIME
        elif option in ("tmpcopyup", "idmap", "ridmap"):
            extensions.add(option)
        else:
            data.append(option)
    return MountOptions(
        flags, tuple(propagation), ",".join(data), attr_set, attr_clear, frozenset(extensions)
    )


def propagation_flags(name: str) -> int:
    return _PROPAGATION[name]

"""Mount options -> mount(2) flags, propagation, mount_setattr(2) attributes, data."""

from __future__ import annotations

import pytest

from dockyard.runtime import mountopts as m
from dockyard.runtime.linux import constants as c
from dockyard.runtime.mountopts import MountOptions, parse_options, propagation_flags

pytestmark = pytest.mark.unit

SETS = {
    "ro": c.MS_RDONLY,
    "nosuid": c.MS_NOSUID,
    "nodev": c.MS_NODEV,
    "noexec": c.MS_NOEXEC,
    "sync": c.MS_SYNCHRONOUS,
    "dirsync": c.MS_DIRSYNC,
    "remount": c.MS_REMOUNT,
    "mand": c.MS_MANDLOCK,
    "noatime": c.MS_NOATIME,
    "nodiratime": c.MS_NODIRATIME,
    "relatime": c.MS_RELATIME,
    "strictatime": c.MS_STRICTATIME,
    "lazytime": c.MS_LAZYTIME,
    "iversion": c.MS_I_VERSION,
    "silent": c.MS_SILENT,
    "nosymfollow": c.MS_NOSYMFOLLOW,
    "bind": c.MS_BIND,
    "rbind": c.MS_BIND | c.MS_REC,
}
# option that clears -> the option that sets the same flag
CLEARS = {
    "rw": "ro",
    "suid": "nosuid",
    "dev": "nodev",
    "exec": "noexec",
    "async": "sync",
    "nomand": "mand",
    "atime": "noatime",
    "diratime": "nodiratime",
    "norelatime": "relatime",
    "nostrictatime": "strictatime",
    "nolazytime": "lazytime",
    "noiversion": "iversion",
    "loud": "silent",
    "symfollow": "nosymfollow",
}


def test_no_options() -> None:
    assert parse_options([]) == MountOptions()
    assert parse_options(["defaults"]) == MountOptions()


@pytest.mark.parametrize(("option", "flag"), sorted(SETS.items()))
def test_flag_option_sets_its_flag(option: str, flag: int) -> None:
    parsed = parse_options([option])
    assert parsed.flags == flag
    assert parsed.data == ""
    assert parsed.propagation == ()


@pytest.mark.parametrize(("option", "setter"), sorted(CLEARS.items()))
def test_flag_option_clears_its_flag(option: str, setter: str) -> None:
    assert parse_options([option]).flags == 0
    assert parse_options([setter, option]).flags == 0
    assert parse_options([option, setter]).flags == SETS[setter]
    other = "nodev" if setter != "nodev" else "nosuid"
    assert parse_options([other, setter, option]).flags == SETS[other]  # clears only its own


def test_later_options_override_earlier() -> None:
    assert parse_options(["ro", "rw"]).flags == 0
    assert parse_options(["rw", "ro"]).flags == c.MS_RDONLY
    assert parse_options(["ro", "nosuid", "rw", "noexec"]).flags == c.MS_NOSUID | c.MS_NOEXEC


def test_every_option_is_known() -> None:
    assert set(SETS) | set(CLEARS) | {"defaults"} == set(m._FLAGS)


def test_bind_options() -> None:
    assert parse_options(["bind"]).is_bind
    assert parse_options(["rbind", "ro"]).flags == c.MS_BIND | c.MS_REC | c.MS_RDONLY
    assert not parse_options(["ro"]).is_bind


@pytest.mark.parametrize(
    ("option", "flag"),
    [
        ("private", c.MS_PRIVATE),
        ("rprivate", c.MS_PRIVATE | c.MS_REC),
        ("shared", c.MS_SHARED),
        ("rshared", c.MS_SHARED | c.MS_REC),
        ("slave", c.MS_SLAVE),
        ("rslave", c.MS_SLAVE | c.MS_REC),
        ("unbindable", c.MS_UNBINDABLE),
        ("runbindable", c.MS_UNBINDABLE | c.MS_REC),
    ],
)
def test_propagation(option: str, flag: int) -> None:
    parsed = parse_options(["rbind", option])
    assert parsed.propagation == (flag,)
    assert parsed.flags == c.MS_BIND | c.MS_REC  # propagation never mixes into the flags
    assert propagation_flags(option) == flag


def test_propagation_list_keeps_order() -> None:
    parsed = parse_options(["rprivate", "ro", "shared", "runbindable"])
    assert parsed.propagation == (c.MS_PRIVATE | c.MS_REC, c.MS_SHARED,
                                  c.MS_UNBINDABLE | c.MS_REC)
    assert parsed.flags == c.MS_RDONLY


@pytest.mark.parametrize(
    ("option", "attr_set", "attr_clear"),
    [
        ("rro", m.MOUNT_ATTR_RDONLY, 0),
        ("rrw", 0, m.MOUNT_ATTR_RDONLY),
        ("rnosuid", m.MOUNT_ATTR_NOSUID, 0),
        ("rsuid", 0, m.MOUNT_ATTR_NOSUID),
        ("rnodev", m.MOUNT_ATTR_NODEV, 0),
        ("rdev", 0, m.MOUNT_ATTR_NODEV),
        ("rnoexec", m.MOUNT_ATTR_NOEXEC, 0),
        ("rexec", 0, m.MOUNT_ATTR_NOEXEC),
        ("rnodiratime", m.MOUNT_ATTR_NODIRATIME, 0),
        ("rdiratime", 0, m.MOUNT_ATTR_NODIRATIME),
        ("rnosymfollow", m.MOUNT_ATTR_NOSYMFOLLOW, 0),
        ("rsymfollow", 0, m.MOUNT_ATTR_NOSYMFOLLOW),
        ("ratime", 0, m.MOUNT_ATTR__ATIME),
    ],
)
def test_recursive_attributes(option: str, attr_set: int, attr_clear: int) -> None:
    parsed = parse_options([option])
    assert (parsed.attr_set, parsed.attr_clear) == (attr_set, attr_clear)
    assert parsed.recursive_attrs
    assert parsed.flags == 0 and parsed.data == ""


def test_recursive_attributes_later_override_earlier() -> None:
    parsed = parse_options(["rro", "rnosuid", "rrw"])
    assert parsed.attr_set == m.MOUNT_ATTR_NOSUID
    assert parsed.attr_clear == m.MOUNT_ATTR_RDONLY
    parsed = parse_options(["rrw", "rro"])
    assert (parsed.attr_set, parsed.attr_clear) == (m.MOUNT_ATTR_RDONLY, 0)


def test_recursive_and_plain_flags_are_separate() -> None:
    parsed = parse_options(["rbind", "rro", "ro"])
    assert parsed.flags == c.MS_BIND | c.MS_REC | c.MS_RDONLY
    assert parsed.attr_set == m.MOUNT_ATTR_RDONLY


@pytest.mark.parametrize(
    ("option", "value"),
    [("rnoatime", m.MOUNT_ATTR_NOATIME), ("rstrictatime", m.MOUNT_ATTR_STRICTATIME)],
)
def test_recursive_atime_is_valid_for_mount_setattr(option: str, value: int) -> None:
    parsed = parse_options(["rnodev", option])
    assert parsed.attr_set == m.MOUNT_ATTR_NODEV | value
    assert parsed.attr_clear == m.MOUNT_ATTR__ATIME


def test_unknown_options_go_to_data_in_order() -> None:
    parsed = parse_options(["nosuid", "mode=755", "strictatime", "size=65536k"])
    assert parsed.data == "mode=755,size=65536k"
    assert parsed.flags == c.MS_NOSUID | c.MS_STRICTATIME


def test_data_only() -> None:
    parsed = parse_options(["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
    assert parsed.data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    assert parsed.flags == 0


@pytest.mark.parametrize("option", ["tmpcopyup", "idmap", "ridmap"])
def test_extensions(option: str) -> None:
    parsed = parse_options(["rbind", option, "ro"])
    assert parsed.extensions == frozenset({option})
    assert parsed.data == ""  # an extension never reaches mount(2)
    assert parsed.flags == c.MS_BIND | c.MS_REC | c.MS_RDONLY


def test_tmpcopyup_with_tmpfs_options() -> None:
    parsed = parse_options(["nosuid", "tmpcopyup", "mode=1777"])
    assert parsed.extensions == frozenset({"tmpcopyup"})
    assert parsed.data == "mode=1777"
    assert not parsed.is_bind

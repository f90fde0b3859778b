"""Capability names, masks and the order the sets are applied (runtime/capabilities.py)."""

from __future__ import annotations

import pytest

from dockyard.runtime import capabilities as caps
from dockyard.runtime.config import Capabilities
from dockyard.runtime.linux import constants as c
from dockyard.runtime.linux.fake import RecordingSyscalls

pytestmark = pytest.mark.unit

HIGHEST = 40  # CAP_CHECKPOINT_RESTORE


@pytest.mark.parametrize("name", ["CAP_SYS_ADMIN", "SYS_ADMIN", "sys_admin", "cap_sys_admin"])
def test_cap_number_with_and_without_prefix(name: str) -> None:
    assert caps.cap_number(name) == 21


@pytest.mark.parametrize(
    ("name", "number"),
    [("CAP_CHOWN", 0), ("CAP_KILL", 5), ("CAP_NET_BIND_SERVICE", 10), ("CAP_NET_RAW", 13),
     ("CAP_SYS_CHROOT", 18), ("CAP_MKNOD", 27), ("CAP_AUDIT_WRITE", 29), ("CAP_SETFCAP", 31),
     ("CAP_MAC_ADMIN", 33), ("CAP_BPF", 39), ("CAP_CHECKPOINT_RESTORE", 40)],
)
def test_cap_numbers_match_the_kernel(name: str, number: int) -> None:
    assert caps.cap_number(name) == number


@pytest.mark.parametrize("name", ["CAP_BOGUS", "", "CAP_", "CAPSYS_ADMIN", "SYS-ADMIN"])
def test_unknown_cap_number(name: str) -> None:
    assert caps.cap_number(name) is None


def test_to_mask() -> None:
    assert caps.to_mask([], HIGHEST) == 0
    assert caps.to_mask(["CAP_CHOWN", "KILL", "CAP_CHOWN"], HIGHEST) == 1 | 1 << 5
    assert caps.to_mask(["CAP_CHECKPOINT_RESTORE"], HIGHEST) == 1 << 40


def test_unknown_caps_are_skipped() -> None:
    assert caps.to_mask(["CAP_UNKNOWN", "CAP_KILL", "UNKNOWN_CAP"], HIGHEST) == 1 << 5


def test_caps_above_the_kernels_highest_are_skipped() -> None:
    assert caps.to_mask(["CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"], 38) == 1


def test_unsupported_names_what_to_mask_skips() -> None:
    """The parent warns with these names (the init cannot log after pivot_root)."""
    sets = Capabilities(
        bounding=("CAP_KILL", "CAP_UNKNOWN", "CAP_BPF"),
        effective=("kill", "UNKNOWN_CAP"),
        inheritable=("CAP_UNKNOWN",),
        permitted=("CAP_CHECKPOINT_RESTORE",),
        ambient=("CAP_SYS_ADMIN",),
    )
    assert caps.unsupported(sets, 38) == [
        "CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_UNKNOWN", "UNKNOWN_CAP",
    ]
    assert caps.unsupported(sets, HIGHEST) == ["CAP_UNKNOWN", "UNKNOWN_CAP"]
    assert caps.unsupported(Capabilities(bounding=("CAP_KILL",)), 5) == []


def test_cap_chown_is_supported() -> None:
    # CAP_CHOWN is number 0: a falsy number must still count as known
    assert caps.unsupported(Capabilities(bounding=("CAP_CHOWN",), effective=("CHOWN",)),
                            HIGHEST) == []


def test_mask_to_names_round_trip() -> None:
    names = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"]
    assert caps.mask_to_names(caps.to_mask(names, HIGHEST)) == names
    assert caps.mask_to_names(0) == []
    assert len(caps.mask_to_names((1 << (HIGHEST + 1)) - 1)) == HIGHEST + 1


def test_last_cap_is_sane() -> None:
    assert 36 <= caps.last_cap() <= 63


def test_drop_bounding_drops_everything_not_kept() -> None:
    sys = RecordingSyscalls()
    keep = caps.to_mask(["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"], HIGHEST)
    caps.drop_bounding(sys, keep, HIGHEST)
    dropped = [n for n in range(HIGHEST + 1) if n not in (0, 5, 7)]
    assert sys.calls == [("prctl", c.PR_CAPBSET_DROP, n, 0) for n in dropped]


def test_drop_bounding_keep_all_and_none() -> None:
    sys = RecordingSyscalls()
    caps.drop_bounding(sys, (1 << (HIGHEST + 1)) - 1, HIGHEST)
    assert sys.calls == []
    caps.drop_bounding(sys, 0, 3)
    assert sys.calls == [("prctl", c.PR_CAPBSET_DROP, n, 0) for n in range(4)]


def test_apply_sets_capset_then_ambient_clear_then_raise() -> None:
    sys = RecordingSyscalls()
    sets = Capabilities(
        bounding=("CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"),
        effective=("CAP_CHOWN", "CAP_KILL"),
        permitted=("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
        inheritable=("CAP_NET_BIND_SERVICE", "CAP_KILL"),
        ambient=("CAP_NET_BIND_SERVICE", "CAP_KILL"),
    )
    caps.apply_sets(sys, sets, HIGHEST)
    assert sys.calls == [
        ("capset", 1 | 1 << 5, 1 | 1 << 5 | 1 << 10, 1 << 5 | 1 << 10),
        ("prctl", c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL, 0),
        ("prctl", c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, 5),
        ("prctl", c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, 10),
    ]


def test_apply_sets_empty_still_clears_ambient() -> None:
    sys = RecordingSyscalls()
    caps.apply_sets(sys, Capabilities(), HIGHEST)
    assert sys.calls == [
        ("capset", 0, 0, 0),
        ("prctl", c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL, 0),
    ]


def test_apply_sets_error_propagates() -> None:
    sys = RecordingSyscalls(fail={"capset": PermissionError(1, "Operation not permitted")})
    with pytest.raises(PermissionError):
        caps.apply_sets(sys, Capabilities(effective=("CAP_KILL",)), HIGHEST)
    assert [call[0] for call in sys.calls] == ["capset"]  # nothing after a failed capset

"""Platforms: parsing, normalisation, host detection and manifest selection."""

from __future__ import annotations

import pytest
from tables import each

from dockyard.image import mediatypes as mt
from dockyard.image.manifest import Descriptor
from dockyard.image.platform import (
    InvalidPlatform,
    NoMatchingPlatform,
    Platform,
    compatible,
    host_platform,
    matches,
    normalize,
    parse_platform,
    select_manifest,
)

pytestmark = pytest.mark.unit



AMD64_HOST = Platform("linux", "amd64")

PARSE = [
    ("linux/amd64", "linux/amd64"),
    ("linux/x86_64", "linux/amd64"),
    ("linux/x86-64", "linux/amd64"),
    ("linux/amd64/v1", "linux/amd64"),
    ("linux/amd64/v3", "linux/amd64/v3"),
    ("linux/arm64", "linux/arm64/v8"),
    ("linux/aarch64", "linux/arm64/v8"),
    ("linux/arm64/v8", "linux/arm64/v8"),
    ("linux/arm64/8", "linux/arm64/v8"),
    ("linux/arm64/v8.0", "linux/arm64/v8"),
    ("linux/arm64/v8.2", "linux/arm64/v8.2"),
    ("linux/arm64/9", "linux/arm64/v9"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/arm/7", "linux/arm/v7"),
    ("linux/arm/v7", "linux/arm/v7"),
    ("linux/arm/v6", "linux/arm/v6"),
    ("linux/arm/5", "linux/arm/v5"),
    ("linux/armhf", "linux/arm/v7"),
    ("linux/armel", "linux/arm/v6"),
    ("linux/i386", "linux/386"),
    ("LINUX/AMD64", "linux/amd64"),
    ("macos/arm64", "darwin/arm64/v8"),
    ("linux/ppc64le", "linux/ppc64le"),
    ("linux/s390x", "linux/s390x"),
    ("linux/riscv64", "linux/riscv64"),
    ("windows/amd64", "windows/amd64"),
    # one component: an OS takes the host's architecture, an arch the host's OS
    ("linux", "linux/amd64"),
    ("arm64", "linux/arm64/v8"),
    ("aarch64", "linux/arm64/v8"),
    ("armhf", "linux/arm/v7"),
]


def _check_parse_and_normalise(text, expected):
    assert str(parse_platform(text, host=AMD64_HOST)) == expected


def test_parse_and_normalise():
    each(PARSE, _check_parse_and_normalise)


def _check_parse_invalid(text):
    with pytest.raises(InvalidPlatform):
        parse_platform(text, host=AMD64_HOST)


def test_parse_invalid():
    each(
        [
            (v,)
            for v in [
                "",
                "linux/amd64/v8/x",
                "linux/*",
                "lin ux/amd64",
                "linux/am$d64",
                "foobar",
                "linux//amd64",
                "/amd64",
            ]
        ],
        _check_parse_invalid,
    )


def test_one_component_os_uses_host_arch():
    host = Platform("linux", "arm", "v6")
    assert str(parse_platform("linux", host=host)) == "linux/arm/v6"
    assert str(parse_platform("windows", host=host)) == "windows/arm/v7"


def test_normalize_equalities():
    assert normalize(Platform("linux", "arm64")) == normalize(Platform("linux", "arm64", "v8"))
    assert normalize(Platform("linux", "aarch64")) == Platform("linux", "arm64", "v8")
    assert normalize(Platform("linux", "arm")) == Platform("linux", "arm", "v7")
    assert normalize(Platform("Linux", "AMD64", "V1")) == Platform("linux", "amd64")
    assert normalize(Platform("windows", "amd64", "", "10.0", ("b", "a"))).os_features == (
        "a",
        "b",
    )


HOSTS = [
    ("x86_64", "", "linux/amd64"),
    ("aarch64", "", "linux/arm64/v8"),
    ("arm64", "", "linux/arm64/v8"),
    ("armv7l", "processor\t: 0\nCPU architecture: 7\n", "linux/arm/v7"),
    ("armv7l", "", "linux/arm/v7"),
    ("armv6l", "", "linux/arm/v6"),
    (
        "armv7l",
        "model name\t: ARMv6-compatible processor rev 7\nCPU architecture: 7\n",
        "linux/arm/v6",
    ),
    ("armv8l", "CPU architecture: 8\n", "linux/arm/v8"),
    ("armv5tel", "CPU architecture: 5TEJ\n", "linux/arm/v5"),
    ("i686", "", "linux/386"),
    ("ppc64le", "", "linux/ppc64le"),
    ("s390x", "", "linux/s390x"),
    ("riscv64", "", "linux/riscv64"),
]


def _check_host_platform(machine, cpuinfo, expected):
    assert str(host_platform(machine, cpuinfo, os="linux")) == expected


def test_host_platform():
    each(HOSTS, _check_host_platform)


def test_host_platform_of_this_machine():
    p = host_platform()
    assert p.os == "linux" and p.architecture and p == normalize(p)


COMPATIBLE = [
    ("linux/amd64", ["linux/amd64"]),
    ("linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64"]),
    ("linux/arm/v7", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v6", ["linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v5", ["linux/arm/v5"]),
    (
        "linux/arm64",
        ["linux/arm64/v8", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
    ),
    (
        "linux/arm64/v8.2",
        [
            "linux/arm64/v8.2",
            "linux/arm64/v8.1",
            "linux/arm64/v8",
            "linux/arm/v8",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/arm/v5",
        ],
    ),
    (
        "linux/arm64/v9",
        [
            "linux/arm64/v9",
            "linux/arm64/v8.5",
            "linux/arm64/v8.4",
            "linux/arm64/v8.3",
            "linux/arm64/v8.2",
            "linux/arm64/v8.1",
            "linux/arm64/v8",
            "linux/arm/v8",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/arm/v5",
        ],
    ),
    ("linux/ppc64le", ["linux/ppc64le"]),
]


def _check_compatible_vector(wanted, vector):
    assert [str(p) for p in compatible(parse_platform(wanted))] == vector


def test_compatible_vector():
    each(COMPATIBLE, _check_compatible_vector)


def test_amd64_takes_386_only_when_asked():
    amd64, i386 = parse_platform("linux/amd64"), Platform("linux", "386")
    assert not matches(amd64, i386)
    assert matches(amd64, i386, allow_386=True)
    assert not matches(amd64, i386, allow_386=True, strict=True)


def test_matching_rules():
    arm7 = parse_platform("linux/arm/v7")
    assert matches(arm7, Platform("linux", "arm", "v6"))
    assert matches(arm7, Platform("linux", "arm"))  # no variant means v7
    assert not matches(arm7, Platform("linux", "arm", "v8"))
    assert not matches(arm7, Platform("linux", "arm", "v6"), strict=True)
    assert matches(parse_platform("linux/arm64"), Platform("linux", "aarch64"))
    assert not matches(parse_platform("linux/amd64"), Platform("linux", "amd64", "v2"))
    assert not matches(parse_platform("linux/amd64"), Platform("windows", "amd64"))
    # an image's OS features must all be offered by the wanted platform
    win = Platform("windows", "amd64", os_features=("win32k",))
    assert matches(win, Platform("windows", "amd64"))
    assert not matches(Platform("windows", "amd64"), win)


def _entry(platform: Platform | None, n: int, **kw) -> Descriptor:
    return Descriptor(mt.OCI_MANIFEST, f"sha256:{n:064x}", 100 + n, platform=platform, **kw)


INDEX = [
    _entry(Platform("linux", "amd64"), 1),
    _entry(Platform("linux", "arm", "v5"), 2),
    _entry(Platform("linux", "arm", "v7"), 3),
    _entry(Platform("linux", "arm64", "v8"), 4),
    _entry(Platform("linux", "386"), 5),
    _entry(Platform("linux", "ppc64le"), 6),
    _entry(
        Platform("unknown", "unknown"),
        7,
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    ),
]


def _check_select_manifest(wanted, digest_n):
    assert select_manifest(INDEX, wanted).digest == f"sha256:{digest_n:064x}"


def test_select_manifest():
    each(
        [
            ("linux/amd64", 1),
            ("linux/arm/v7", 3),
            ("linux/arm", 3),
            ("linux/arm/v6", 2),  # falls back to v5, the best it can run
            ("linux/arm/v5", 2),
            ("linux/arm64", 4),
            ("linux/aarch64", 4),
            ("linux/arm64/v8.2", 4),
            ("linux/386", 5),
            ("linux/ppc64le", 6),
        ],
        _check_select_manifest,
    )


def test_select_prefers_exact_then_first_listed():
    index = [
        _entry(Platform("linux", "arm", "v6"), 1),
        _entry(Platform("linux", "arm", "v7"), 2),
        _entry(Platform("linux", "arm", "v7"), 3),
    ]
    assert select_manifest(index, "linux/arm/v7").digest.endswith("2")
    assert select_manifest(index, "linux/arm/v6").digest.endswith("1")


def test_select_arm64_falls_back_to_32bit_arm():
    index = [_entry(Platform("linux", "amd64"), 1), _entry(Platform("linux", "arm", "v7"), 2)]
    assert select_manifest(index, "linux/arm64").digest.endswith("2")


def test_select_no_match_lists_what_is_available():
    index = [
        _entry(Platform("linux", "amd64"), 1),
        _entry(Platform("linux", "arm", "v7"), 2),
        INDEX[-1],
    ]
    with pytest.raises(NoMatchingPlatform) as ei:
        select_manifest(index, "linux/s390x")
    msg = str(ei.value)
    assert msg.startswith("no matching manifest for linux/s390x in the manifest list entries")
    assert "linux/amd64, linux/arm/v7" in msg and "unknown" not in msg
    assert ei.value.available == (Platform("linux", "amd64"), Platform("linux", "arm", "v7"))
    with pytest.raises(NoMatchingPlatform, match="linux/amd64"):
        select_manifest([_entry(Platform("linux", "386"), 1)], "linux/amd64")
    with pytest.raises(NoMatchingPlatform, match="lists no platforms"):
        select_manifest([], "linux/amd64")


def test_select_386_opt_in_and_strict():
    index = [_entry(Platform("linux", "386"), 1)]
    assert select_manifest(index, "linux/amd64", allow_386=True).digest.endswith("1")
    index = [_entry(Platform("linux", "arm", "v6"), 1)]
    with pytest.raises(NoMatchingPlatform):
        select_manifest(index, "linux/arm/v7", strict=True)


def test_select_platformless_entry_is_last_resort():
    index = [_entry(None, 1), _entry(Platform("linux", "amd64"), 2)]
    assert select_manifest(index, "linux/amd64").digest.endswith("2")
    assert select_manifest(index, "linux/s390x").digest.endswith("1")
    blob_only = [Descriptor(mt.OCI_LAYER_GZIP, f"sha256:{3:064x}", 1)]
    with pytest.raises(NoMatchingPlatform):
        select_manifest(blob_only, "linux/amd64")


def test_select_default_is_host():
    host = host_platform()
    index = [_entry(Platform(host.os, host.architecture, host.variant), 9)]
    assert select_manifest(index).digest.endswith("9")


def test_platform_json_round_trip():
    p = Platform("windows", "amd64", "", "10.0.17763.1", ("win32k",))
    assert Platform.from_json(p.to_json()) == p
    assert Platform("linux", "arm", "v7").to_json() == {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
    }
    assert Platform.from_json({"architecture": "amd64", "os": "linux", "features": ["sse4"]}) == (
        Platform("linux", "amd64")
    )
    for bad in [
        None,
        [],
        {"os": "linux"},
        {"os": 1, "architecture": "x"},
        {"os": "linux", "architecture": "amd64", "os.features": "x"},
    ]:
        with pytest.raises(InvalidPlatform):
            Platform.from_json(bad)

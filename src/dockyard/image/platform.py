"""Platforms (``linux/arm64/v8``): parsing, normalisation, host detection, index selection.

Theory of operation
-------------------
A platform is ``os/architecture[/variant]`` plus, rarely, an OS version and features.
Every comparison is made between *normalised* platforms (:func:`normalize`), so that
the many spellings of one machine compare equal:

======================  ===================
written                 normalised
======================  ===================
``x86_64``, ``x86-64``  ``amd64``
``amd64/v1``            ``amd64``
``aarch64``, ``arm64``  ``arm64/v8``
``arm64/8``, ``v8.0``   ``arm64/v8``
``arm64/9``, ``v9.0``   ``arm64/v9``
``arm``, ``arm/7``      ``arm/v7``
``armhf``               ``arm/v7``
``armel``               ``arm/v6``
``i386``                ``386``
``macos``               ``darwin``
======================  ===================

(containerd stores ``arm64`` with an empty variant; we store ``v8`` because that is
what image configs and indexes carry. ``arm64`` and ``arm64/v8`` compare equal either way.)

Selecting a manifest from an index follows containerd's ``platforms.Only``: a wanted
platform accepts an ordered *vector* of platforms, best first (:func:`compatible`):

- ``arm/vN`` accepts ``arm/vN`` .. ``arm/v5``;
- ``arm64/v8.x`` accepts ``arm64/v8.x`` .. ``arm64/v8``, then ``arm/v8`` .. ``arm/v5``;
  ``arm64/v9.x`` also accepts the v8.x levels containerd lists as its equivalents;
- ``amd64/vN`` accepts ``amd64/vN`` .. ``amd64`` (v1);
- ``386`` is accepted for ``amd64`` only with ``allow_386=True`` (containerd and recent
  Docker do accept it; dockyard does not by default, so that ``linux/amd64`` never
  silently runs a 32-bit image).

``strict=True`` is containerd's ``OnlyStrict``: the wanted platform only.
"""

from __future__ import annotations

import os as _os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.image import mediatypes

if TYPE_CHECKING:
    from dockyard.image.manifest import Descriptor


class InvalidPlatform(ValueError):
    """A platform string or object that cannot be parsed."""


class NoMatchingPlatform(LookupError):
    """No entry of an index fits the wanted platform; ``available`` lists what there is."""

    def __init__(self, wanted: Platform, available: Sequence[Platform]) -> None:
        self.wanted = wanted
        self.available = tuple(available)
        msg = f"no matching manifest for {wanted} in the manifest list entries"
        if available:
            msg += " (available: " + ", ".join(str(p) for p in available) + ")"
        else:
            msg += " (the index lists no platforms)"
        super().__init__(msg)


def _names(text: str) -> frozenset[str]:
    """A set of blank-separated names (long constant lists stay readable)."""
    return frozenset(text.split())


KNOWN_OS = _names(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd "
    "plan9 solaris windows zos"
)
KNOWN_ARCH = _names(
    "386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 "
    "mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm"
)

_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")
_OS_COMPONENT = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Platform:
    """An OCI platform. ``str()`` gives ``os/arch[/variant]``."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s

    def normalized(self) -> Platform:
        return normalize(self)

    def to_json(self) -> dict[str, Any]:
        """The OCI ``platform`` object (key order as image-spec writes it)."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, obj: object, where: str = "platform") -> Platform:
        """Read an OCI / Docker ``platform`` object, validating its types.

        ``architecture`` and ``os`` are required strings; the Docker-only ``features``
        field is accepted and ignored.
        """
        if not isinstance(obj, Mapping):
            raise InvalidPlatform(f"{where}: expected an object, got {_kind(obj)}")
        arch, os_ = obj.get("architecture"), obj.get("os")
        if not isinstance(arch, str) or not isinstance(os_, str):
            raise InvalidPlatform(f"{where}: 'architecture' and 'os' must be strings")
        variant = obj.get("variant", "")
        os_version = obj.get("os.version", "")
        features = obj.get("os.features", [])
        if variant is None:
            variant = ""
        if os_version is None:
            os_version = ""
        if features is None:
            features = []
        if not isinstance(variant, str) or not isinstance(os_version, str):
            raise InvalidPlatform(f"{where}: 'variant' and 'os.version' must be strings")
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise InvalidPlatform(f"{where}: 'os.features' must be a list of strings")
        return cls(os_, arch, variant, os_version, tuple(features))


def _kind(obj: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(obj), "null" if obj is None else "number"
    )


def normalize_os(os: str) -> str:
    os = os.lower()
    return "darwin" if os == "macos" else os


def normalize_arch(arch: str, variant: str = "") -> tuple[str, str]:
    """``(architecture, variant)`` in canonical spelling (see the table above)."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("", "8", "v8", "v8.0"):
            variant = "v8"
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
        return "arm", variant
    return arch, variant


def normalize(p: Platform) -> Platform:
    """The canonical form used for every comparison; OS features are sorted."""
    arch, variant = normalize_arch(p.architecture, p.variant)
    return Platform(normalize_os(p.os), arch, variant, p.os_version, tuple(sorted(p.os_features)))


def parse_platform(text: str, *, host: Platform | None = None) -> Platform:
    """Parse ``os[/arch[/variant]]`` (``--platform``) into a normalised :class:`Platform`.

    One component is an OS if it is a known one (the architecture then comes from
    ``host``), else an architecture (the OS then comes from ``host``). Components
    are case-insensitive.
    """
    if not isinstance(text, str) or not text:
        raise InvalidPlatform("invalid platform: empty string")
    if "*" in text:
        raise InvalidPlatform(f"{text!r}: wildcards not yet supported")
    parts = text.split("/")
    if len(parts) > 3:
        raise InvalidPlatform(f"{text!r}: cannot parse platform specifier")
    if not _OS_COMPONENT.fullmatch(parts[0]):
        raise InvalidPlatform(f"{parts[0]!r} is an invalid OS component of {text!r}")
    for part in parts[1:]:
        if not _COMPONENT.fullmatch(part):
            raise InvalidPlatform(f"{part!r} is an invalid component of {text!r}")
    if len(parts) == 1:
        h = host if host is not None else host_platform()
        os_ = normalize_os(parts[0])
        if os_ in KNOWN_OS:
            if os_ == h.os:
                return normalize(Platform(os_, h.architecture, h.variant))
            return normalize(Platform(os_, h.architecture))
        arch, variant = normalize_arch(parts[0])
        if arch in KNOWN_ARCH:
            return normalize(Platform(h.os, arch, variant))
        raise InvalidPlatform(f"{text!r}: unknown operating system or architecture")
    variant = parts[2] if len(parts) == 3 else ""
    return normalize(Platform(parts[0], parts[1], variant))


def format_platform(p: Platform) -> str:
    """``os/arch[/variant]`` of the normalised platform."""
    return str(normalize(p))


# --- host ---------------------------------------------------------------------------

_MACHINE_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
    "mips64": "mips64",
    "mips": "mips",
}

_ARM_VARIANT = {
    "8": "v8",
    "aarch64": "v8",
    "7": "v7",
    "7m": "v7",
    "6": "v6",
    "6tej": "v6",
    "5": "v5",
    "5t": "v5",
    "5te": "v5",
    "5tej": "v5",
}


def _cpuinfo_field(cpuinfo: str, name: str) -> str | None:
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def host_platform(
    machine: str | None = None, cpuinfo: str | None = None, os: str | None = None
) -> Platform:
    """The platform of this machine (normalised).

    ``machine`` is ``uname -m`` and ``cpuinfo`` the text of ``/proc/cpuinfo``; both are
    read from the system when not given (tests pass them). For 32-bit ARM the variant
    comes from cpuinfo's ``CPU architecture`` (Raspberry Pi ARMv6 boards report 7 and
    are recognised by their model name), else from ``armv7l``-style machine names.
    """
    if os is None:
        os = "linux" if sys.platform.startswith("linux") else sys.platform
    if machine is None:
        machine = _os.uname().machine
    m = machine.lower()
    if m.startswith("arm") and m not in ("arm64",):
        if cpuinfo is None:
            try:
                with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                    cpuinfo = f.read()
            except OSError:
                cpuinfo = ""
        raw = _cpuinfo_field(cpuinfo, "CPU architecture")
        if raw is None and len(m) >= 5 and m[3] == "v":
            raw = m[4]
        model = (_cpuinfo_field(cpuinfo, "model name") or "").lower()
        if raw == "7" and model.startswith("armv6-compatible"):
            raw = "6"
        variant = _ARM_VARIANT.get((raw or "").lower(), "v7")
        # a 64-bit CPU running a 32-bit userland reports 8: run arm/v8 (accepts v7..v5)
        return normalize(Platform(os, "arm", variant))
    arch = _MACHINE_ARCH.get(m, m)
    return normalize(Platform(os, arch))


# --- matching and selection ---------------------------------------------------------

# arm64 variant -> (major levels, first minor for each), as containerd's table
_ARM64_LEVELS: dict[str, tuple[tuple[int, int], ...]] = {
    **{("v8" if n == 0 else f"v8.{n}"): ((8, n),) for n in range(10)},
    "v8.0": ((8, 0),),
    "v9": ((9, 0), (8, 5)),
    **{f"v9.{n}": ((9, n), (8, min(n + 5, 9))) for n in range(0, 8)},
}


def compatible(wanted: Platform, *, allow_386: bool = False) -> list[Platform]:
    """The platforms ``wanted`` can run, best first (containerd's platform vector)."""
    p = normalize(wanted)
    base = {"os": p.os, "os_version": p.os_version, "os_features": p.os_features}
    vector = [p]
    if p.architecture == "amd64":
        level = _version_number(p.variant)
        if level is not None and level > 1:
            for n in range(level - 1, 0, -1):
                vector.append(Platform(architecture="amd64", variant=_amd64_variant(n), **base))
        if allow_386:
            vector.append(Platform(architecture="386", **base))
    elif p.architecture == "arm":
        level = _version_number(p.variant)
        if level is not None and level > 5:
            for n in range(level - 1, 4, -1):
                vector.append(Platform(architecture="arm", variant=f"v{n}", **base))
    elif p.architecture == "arm64":
        levels = _ARM64_LEVELS.get(p.variant)
        if levels is not None:
            vector = []
            for major, first_minor in levels:
                for minor in range(first_minor, -1, -1):
                    v = f"v{major}" if minor == 0 else f"v{major}.{minor}"
                    vector.append(Platform(architecture="arm64", variant=v, **base))
            vector += compatible(Platform(architecture="arm", variant="v8", **base))
    # de-duplicate while keeping order (v8 and v8.0 both normalise to v8)
    seen: set[Platform] = set()
    out = []
    for q in vector:
        q = normalize(q)
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def _version_number(variant: str) -> int | None:
    v = variant[1:] if variant.startswith("v") else variant
    return int(v) if v.isdigit() else None


def _amd64_variant(n: int) -> str:
    return "" if n == 1 else f"v{n}"


def _same(want: Platform, have: Platform) -> bool:
    """containerd's matcher: equal os/arch/variant; ``have``'s OS features ⊆ ``want``'s."""
    h = normalize(have)
    return (
        want.os == h.os
        and want.architecture == h.architecture
        and want.variant == h.variant
        and set(h.os_features) <= set(want.os_features)
    )


def matches(
    wanted: Platform, candidate: Platform, *, strict: bool = False, allow_386: bool = False
) -> bool:
    """True if an image for ``candidate`` can run where ``wanted`` is asked for."""
    return rank(wanted, candidate, strict=strict, allow_386=allow_386) is not None


def rank(
    wanted: Platform, candidate: Platform, *, strict: bool = False, allow_386: bool = False
) -> int | None:
    """0 for the best fit, higher for a worse one, ``None`` when it does not fit."""
    vector = [normalize(wanted)] if strict else compatible(wanted, allow_386=allow_386)
    for i, p in enumerate(vector):
        if _same(p, candidate):
            return i
    return None


# Entries that are not runnable images even though they sit in an index
# (BuildKit attestations carry platform unknown/unknown and this annotation).
_REFERENCE_TYPE = "vnd.docker.reference.type"


def select_manifest(
    manifests: Iterable[Descriptor],
    wanted: Platform | str | None = None,
    *,
    strict: bool = False,
    allow_386: bool = False,
) -> Descriptor:
    """The best entry of an index for ``wanted`` (default: this host).

    Entries are ranked by :func:`rank`; ties keep index order (the first listed wins,
    as with containerd's stable sort). Entries without a platform are a last resort,
    as containerd accepts them, unless they are marked as attestations. Raises
    :class:`NoMatchingPlatform` naming what the index does offer.
    """
    if wanted is None:
        want = host_platform()
    elif isinstance(wanted, str):
        want = parse_platform(wanted)
    else:
        want = normalize(wanted)
    best: tuple[int, int] | None = None
    chosen: Descriptor | None = None
    available: list[Platform] = []
    for pos, desc in enumerate(manifests):
        if desc.annotations.get(_REFERENCE_TYPE):
            continue
        if desc.platform is None:
            if desc.media_type in mediatypes.MANIFEST_TYPES:
                key = (1 << 30, pos)
                if best is None or key < best:
                    best, chosen = key, desc
            continue
        if desc.platform.os == "unknown" and desc.platform.architecture == "unknown":
            continue
        available.append(desc.platform)
        r = rank(want, desc.platform, strict=strict, allow_386=allow_386)
        if r is not None:
            key = (r, pos)
            if best is None or key < best:
                best, chosen = key, desc
    if chosen is None:
        raise NoMatchingPlatform(want, available)
    return chosen

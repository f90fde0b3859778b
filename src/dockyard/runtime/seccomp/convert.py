"""Docker's seccomp profile format -> OCI ``linux.seccomp`` for one container.

A Docker profile is conditional: groups apply only for some capabilities,
architectures or kernel versions. Conversion keeps the groups whose ``includes``
all hold and none of whose ``excludes`` do, as dockerd does when it creates a
container, and picks the archMap entry of the container's architecture.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .arches import PROFILE_ARCHES, host_machine, profile_arch
from .errors import SeccompError

# Fields that OCI and Docker's format share, copied through unchanged.
_COMMON_FIELDS = ("defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")


def normalize_cap(name: str) -> str:
    upper = name.upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def host_kernel() -> tuple[int, int]:
    return parse_kernel(os.uname().release, "kernel release")


def parse_kernel(text: str, field: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", text) if isinstance(text, str) else None
    if not match:
        raise SeccompError(field, f"invalid kernel version {text!r}")
    return int(match[1]), int(match[2])


def docker_to_oci(
    profile: Mapping[str, Any],
    capabilities: Iterable[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict:
    """The OCI ``linux.seccomp`` that ``profile`` gives a container.

    ``capabilities`` is the container's bounding set (with or without the
    ``CAP_`` prefix); ``arch`` a uname machine (``x86_64``) or profile arch
    name (``amd64``), the host's by default; ``kernel`` the (major, minor) that
    ``minKernel`` conditions are compared with, the running kernel's by default.
    """
    if not isinstance(profile, Mapping):
        raise SeccompError("profile", "must be an object")
    if not profile.get("defaultAction"):
        raise SeccompError("profile.defaultAction", "missing")
    if profile.get("architectures") and profile.get("archMap"):
        raise SeccompError("profile", "has both architectures and archMap; use one")
    try:
        arch_name = profile_arch(arch or host_machine())
    except ValueError as exc:
        raise SeccompError("arch", str(exc)) from None
    caps = {normalize_cap(cap) for cap in capabilities}
    running = kernel if kernel is not None else host_kernel()

    oci: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    for name in _COMMON_FIELDS:
        if profile.get(name) is not None:
            oci[name] = copy.deepcopy(profile[name])
    oci["architectures"] = _architectures(profile, arch_name)

    syscalls = []
    groups = profile.get("syscalls") or []
    if not isinstance(groups, list):
        raise SeccompError("profile.syscalls", "must be a list")
    for index, group in enumerate(groups):
        field = f"profile.syscalls[{index}]"
        if not isinstance(group, Mapping):
            raise SeccompError(field, "must be an object")
        if _applies(group, field, caps, arch_name, running):
            syscalls.append(_oci_syscall(group, field))
    oci["syscalls"] = syscalls
    return oci


def _architectures(profile: Mapping[str, Any], arch_name: str) -> list[str]:
    if profile.get("architectures"):
        return list(profile["architectures"])
    native = PROFILE_ARCHES[arch_name]
    for entry in profile.get("archMap") or []:
        if isinstance(entry, Mapping) and entry.get("architecture") == native:
            return [native, *(entry.get("subArchitectures") or [])]
    return []


def _applies(
    group: Mapping[str, Any],
    field: str,
    caps: set[str],
    arch_name: str,
    kernel: tuple[int, int],
) -> bool:
    excludes = group.get("excludes") or {}
    if arch_name in (excludes.get("arches") or ()):
        return False
    if any(normalize_cap(cap) in caps for cap in excludes.get("caps") or ()):
        return False
    if excludes.get("minKernel") and kernel >= parse_kernel(
        excludes["minKernel"], f"{field}.excludes.minKernel"
    ):
        return False

    includes = group.get("includes") or {}
    if includes.get("arches") and arch_name not in includes["arches"]:
        return False
    if not all(normalize_cap(cap) in caps for cap in includes.get("caps") or ()):
        return False
    return not (
        includes.get("minKernel")
        and kernel < parse_kernel(includes["minKernel"], f"{field}.includes.minKernel")
    )


def _oci_syscall(group: Mapping[str, Any], field: str) -> dict:
    names = group.get("names")
    if group.get("name"):
        if names:
            raise SeccompError(field, "has both name and names; use one")
        names = [group["name"]]
    if not names:
        raise SeccompError(f"{field}.names", "missing")
    syscall: dict[str, Any] = {"names": list(names), "action": group.get("action")}
    if group.get("errnoRet") is not None:
        syscall["errnoRet"] = group["errnoRet"]
    if group.get("args"):
        syscall["args"] = copy.deepcopy(list(group["args"]))
    return syscall

"""Seccomp: Docker's default profile, Docker -> OCI conversion, BPF compile and load.

The pipeline for one container::

    oci = docker_to_oci(default_profile(), capabilities)    # daemon side, pure
    program = compile_bpf(oci, cache_dir)                    # cached; libseccomp on a miss
    load_bpf(program, filter_flags(oci))                     # in the container, last

Names are imported on first use, so the runtime pays only for what it touches,
and pyseccomp only when a program is not in the cache. Code that loads a filter
after pivot_root must import ``load_bpf`` before it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compile import compile_bpf
    from .convert import docker_to_oci
    from .errors import SeccompError
    from .load import load_bpf
    from .profile import default_profile
    from .validate import filter_flags

_HOMES = {
    "SeccompError": "errors",
    "compile_bpf": "compile",
    "default_profile": "profile",
    "docker_to_oci": "convert",
    "filter_flags": "validate",
    "load_bpf": "load",
}
__all__ = [
    "SeccompError",
    "compile_bpf",
    "default_profile",
    "docker_to_oci",
    "filter_flags",
    "load_bpf",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]

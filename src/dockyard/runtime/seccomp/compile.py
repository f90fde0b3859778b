"""OCI ``linux.seccomp`` -> BPF program bytes, cached on disk.

Most containers share a handful of profiles, and compiling one costs tens of
milliseconds (most of it importing pyseccomp), so programs are cached by a hash
of what they depend on. A cache hit reads one file and never imports pyseccomp.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from . import libseccomp
from .validate import plan as make_plan

# Bump when the compiler's output changes for the same input.
_REVISION = 1


def compile_bpf(oci_seccomp: dict[str, Any], cache_dir: Path | None = None) -> bytes:
    """The classic BPF program (a ``struct sock_filter`` array) for ``oci_seccomp``.

    Raises ``SeccompError`` naming the field for bad input.
    """
    plan = make_plan(oci_seccomp)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{cache_key(plan.canonical())}.bpf"
        cached = _read(path)
        if cached is not None:
            return cached

    from .build import build  # deferred: pyseccomp is slow to import

    program = build(plan)
    if path is not None:
        _write_atomically(path, program)
    return program


def cache_key(canonical: dict[str, Any]) -> str:
    material = {
        "plan": canonical,
        "libseccomp": libseccomp.version(),
        # libseccomp always includes the native arch in the filter.
        "machine": os.uname().machine,
        "revision": _REVISION,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    # A torn or foreign file is a miss, never a filter.
    return data if data and len(data) % 8 == 0 else None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

"""Leak probes shared by the engine's integration tests."""

from __future__ import annotations

import contextlib
import glob
import json
import os


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def shim_pids(exec_root: str) -> list[int]:
    """Shims of the containers under `exec_root` that are still alive."""
    pids = []
    for name in glob.glob(os.path.join(exec_root, "containers", "*", "shim.json")):
        with contextlib.suppress(OSError, ValueError), open(name) as f:
            pids.append(json.load(f)["shim_pid"])
    return [p for p in pids if os.path.exists(f"/proc/{p}")]

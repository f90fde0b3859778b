"""Leak probes and cleanup steps shared by the engine's integration tests."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import time


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


async def remove_all(eng) -> list[str]:
    """Force-remove every container `eng` knows; the ids it still knows afterwards."""
    for cid in eng.ids():
        with contextlib.suppress(Exception):
            await eng.remove(cid, force=True)
    return eng.ids()


def kill_shims(exec_root: str) -> list[int]:
    """SIGKILL the shims still alive under `exec_root`; returns them, for the leak check."""
    shims = shim_pids(exec_root)
    for pid in shims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return shims


def unmount_under(path: str) -> list[str]:
    """Lazily unmount everything mounted at or under `path`; returns the mount points."""
    mounts = mounts_under(path)
    for point in reversed(mounts):
        with contextlib.suppress(OSError):
            os.system(f"umount -l {point}")
    return mounts


def find_dirs(top: str, name: str, depth: int = 6) -> list[str]:
    """Directories called `name` at most `depth` levels below `top` (not inside each other)."""
    found = []
    for root, dirs, _ in os.walk(top):
        if root.count("/") - top.count("/") >= depth:
            dirs[:] = []
            continue
        if name in dirs:
            found.append(os.path.join(root, name))
            dirs.remove(name)
    return found


def remove_dirs(paths: list[str]) -> None:
    """rmdir each of `paths` (cgroup parents), retrying for a moment while one is busy."""
    for path in paths:
        # The runtime removes the container's cgroup, not the parent; a v1 memory
        # cgroup may stay busy for a moment after its last task left.
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)

"""Small probes of the host's process, cgroup and mount state, shared by the runtime tests.

They live here, not in conftest.py: tests/compat and tests/unit have conftest.py files of
their own, and ``from conftest import ...`` in a test module would get whichever of those
pytest imported last.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01):
    """Poll ``predicate`` until it returns something truthy; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def proc_starttime(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat, or None when the pid is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def pid_alive(pid: int, starttime: int | None = None) -> bool:
    st = proc_starttime(pid)
    return st is not None and (starttime is None or st == starttime)


def status_field(pid: int | str, name: str) -> str:
    """A field of /proc/<pid>/status, e.g. ``status_field(pid, "CapEff")``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    raise KeyError(name)


def parse_status(text: str) -> dict[str, str]:
    """``Key:\\tvalue`` lines (a /proc/<pid>/status dump) into a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def cgroup_mounts() -> dict[str, Path]:
    """Controller (or ``""`` for cgroup2, ``name=systemd``) -> mount point."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fstype, _source, opts = post.split()[:3]
        mnt = Path(_unescape(pre.split()[4]))
        if fstype == "cgroup2":
            mounts.setdefault("", mnt)
        elif fstype == "cgroup":
            for opt in opts.split(","):
                if opt in ("rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec"):
                    continue
                mounts.setdefault(opt, mnt)
    return mounts


def proc_cgroups(pid: int | str) -> dict[str, str]:
    """/proc/<pid>/cgroup as controller -> path (``""`` for the unified hierarchy)."""
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            out[c] = path
    return out


def cgroup_dir(pid: int | str, controller: str) -> Path:
    """The host directory of ``pid``'s cgroup in ``controller`` (v1 name or ``""`` for v2)."""
    return cgroup_mounts()[controller] / proc_cgroups(pid)[controller].lstrip("/")


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mountinfo(text: str | None = None) -> list[dict]:
    """Parse mountinfo text (default: ours) into dicts: mountpoint, fstype, options, optional."""
    if text is None:
        text = Path("/proc/self/mountinfo").read_text()
    out = []
    for line in text.splitlines():
        if " - " not in line:
            continue
        pre, _, post = line.partition(" - ")
        f = pre.split()
        p = post.split()
        out.append(
            {
                "id": f[0],
                "parent": f[1],
                "root": _unescape(f[3]),
                "mountpoint": _unescape(f[4]),
                "mount_options": f[5],
                "optional": f[6:],
                "fstype": p[0],
                "source": p[1] if len(p) > 1 else "",
                "super_options": p[2] if len(p) > 2 else "",
            }
        )
    return out

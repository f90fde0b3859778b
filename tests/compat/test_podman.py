"""A real engine drives the runtime: ``podman --runtime <runtime> run --rm busybox echo hi``.

podman runs with private everything: storage (``--root``/``--runroot``, vfs driver, so no
host mounts), ``CONTAINERS_CONF`` (cgroupfs, file events log, tmp dir, network config),
``--network none``, a cgroup parent named after the test, and rlimits below the current
hard limits (root lacks CAP_SYS_RESOURCE on the test machines, and podman's defaults
would exceed them). The busybox image is imported offline from the test rootfs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from hostprobe import cgroup_mounts

pytestmark = [pytest.mark.compat, pytest.mark.root]

IMAGE = "localhost/dockyard-test-busybox:latest"

# podman (c/image, its network code) creates these even with private storage; we remove
# them afterwards if (and only if) they did not exist before and are empty again.
PODMAN_HOST_LEFTOVERS = [
    Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
    Path("/var/lib/containers/cache"),
    Path("/var/lib/containers"),
    Path("/run/containers/networks"),
    Path("/run/containers"),
]


def _ulimit(which: int, want: int) -> str:
    """``n:n`` with n at most the current hard limit (we cannot raise a hard limit)."""
    hard = resource.getrlimit(which)[1]
    n = want if hard == resource.RLIM_INFINITY else min(want, hard)
    return f"{n}:{n}"


class Podman:
    def __init__(self, base: Path, cgroup_parent: str):
        self.base = base
        self.cgroup_parent = cgroup_parent
        for d in ("root", "runroot", "tmp", "net"):
            (base / d).mkdir(parents=True, exist_ok=True)
        nofile = _ulimit(resource.RLIMIT_NOFILE, 1024)
        nproc = _ulimit(resource.RLIMIT_NPROC, 4096)
        self.nofile = nofile
        conf = base / "containers.conf"
        conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}", "nproc={nproc}"]\n'
            'netns = "none"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{base}/tmp/events.log"\n'
            f'tmp_dir = "{base}/tmp"\n'
            f'static_dir = "{base}/root/libpod"\n'
            f'volume_path = "{base}/root/volumes"\n'
            "[network]\n"
            f'network_config_dir = "{base}/net"\n'
        )
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.env.pop("CONTAINERS_STORAGE_CONF", None)

    def cmd(self, *args) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.base / "root"),
            "--runroot",
            str(self.base / "runroot"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            *map(str, args),
        ]

    def __call__(self, *args, timeout: float = 120, check: bool = False):
        r = subprocess.run(
            self.cmd(*args),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(r.args)}: exit {r.returncode}\n{r.stderr}")
        return r

    def run(self, runtime_binary: str, *args, **kw):
        return self(
            "--runtime",
            runtime_binary,
            # podman names no state root for runtimes it does not know: a private one,
            # not the runtime's default /run/dockyard/runtime
            "--runtime-flag",
            f"root={self.base / 'runtime-state'}",
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            self.cgroup_parent,
            IMAGE,
            *args,
            **kw,
        )

    def reset(self) -> None:
        self("system", "reset", "--force", timeout=120)
        # storage under our dirs may still hold mounts if something went wrong
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            mnt = line.split()[4]
            if mnt.startswith(str(self.base) + "/"):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def podman(testctx):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    existed = {p: p.exists() for p in PODMAN_HOST_LEFTOVERS}
    parent = f"/dockyard-test-{testctx.slug}-podman"
    # podman refuses a runroot longer than 50 characters: use the short dir
    p = Podman(testctx.short / "podman", parent)
    tar = testctx.tmp / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        t.add(testctx.rootfs, arcname=".")
    try:
        p("import", tar, IMAGE, check=True)
        yield p
    finally:
        p.reset()
        for mnt in cgroup_mounts().values():
            d = mnt / parent.lstrip("/")
            if d.is_dir():
                for sub in sorted(d.rglob("*"), key=lambda x: len(x.parts), reverse=True):
                    if sub.is_dir():
                        with contextlib.suppress(OSError):
                            sub.rmdir()
                with contextlib.suppress(OSError):
                    d.rmdir()
        for path, was in existed.items():
            if not was and path.exists():
                with contextlib.suppress(OSError):
                    path.unlink() if path.is_file() else path.rmdir()


def test_podman_run_echo(runtime, podman):
    r = podman.run(runtime.binary, "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"


def test_podman_run_exit_code_and_limits(runtime, podman):
    r = podman.run(runtime.binary, "sh", "-c", "ulimit -n; ulimit -Hn; hostname; exit 7")
    assert r.returncode == 7, r.stderr
    soft, hard = podman.nofile.split(":")
    lines = r.stdout.split()
    assert lines[:2] == [soft, hard]
    assert lines[2]


def test_podman_baseline_runc(runc, podman):
    """The same with Debian's runc: if this fails, the environment is at fault, not us."""
    r = podman.run(runc.binary, "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"

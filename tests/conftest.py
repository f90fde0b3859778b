"""Shared fixtures: a busybox rootfs, OCI bundles, and a hermetic runtime driver.

The runtime under test is a runc-compatible binary chosen with ``DOCKYARD_RUNTIME``
(default ``.venv/bin/dockyard-runtime`` when it exists; otherwise its tests skip).
Every test gets its own ``--root`` state directory, its own container ids
(``dy-<test>-<token>-<n>``) and its own cgroup names (``dockyard-test-<test>-<token>-<n>``).
A finalizer kills and force-deletes every container the test created and then fails the
test if anything is left: a state directory, a mount under the test's directories, a
cgroup or a live process carrying the test's token, or a pid the test started.

Fixtures
--------
``busybox_rootfs`` (session)  Path of a busybox root filesystem built once; never mutate it.
``testctx``                   per-test context: ``slug``, ``tmp``, ``short`` (a short dir under
                              /tmp for unix sockets), ``new_id()``, ``cgroup_name()``,
                              ``config(args, **kw)``, ``bundle(config, rootfs=..)``.
``config``                    ``config(args=("sh",), **kw) -> dict``: tests/oci.py's minimal
                              config with a unique cgroupsPath.
``bundle``                    ``bundle(config=None, *, rootfs=True, name=None, parent=None)``
                              -> Path: a bundle dir (under ``parent``, default the test's
                              tmp_path) with ``config.json`` and a private busybox rootfs copy.
``runtime``                   :class:`Runtime` for the runtime under test (skips if none).
``runc``                      :class:`Runtime` for Debian's runc (skips if absent).

Runtime (each call returns a CompletedProcess unless noted; ``check=True`` asserts exit 0)
    cli(*args, check, timeout, input, **popen_kw)   ``<binary> --root <state> *args``
    popen(*args)                                    background CLI, killed at teardown
    run(bundle, cid=None, *flags)                   foreground ``run`` (stdout captured)
    sh(script, config=None, *flags) / sh_ok(...)    ``run`` of ``sh -c script`` in a new bundle
    create(bundle, cid=None, *flags) -> cid         stdout is a pipe: ``out[cid]`` (Output)
    run_detached(bundle, cid=None, *flags) -> cid   ``run --detach``, same stdio as create
    start / state -> dict / status -> str|None / kill(cid, sig, all=) / delete(cid, force=)
    exec(cid, *args, flags=[...]) / exec_detached(cid, *args, flags=[...]) -> Output
    wait_status(cid, *statuses, timeout) -> state   poll ``state`` with a deadline
    new_id(), track(cid), track_pid(pid), is_runc, skip_if_runc(reason), stderr(cid)
Output (a pipe's read end): readline(timeout), expect(line), read() (to EOF), drain(),
    quiet_for(seconds)
Helpers (tests/hostprobe.py, imported from there): wait_for, pid_alive, proc_starttime,
    status_field, parse_status, mountinfo, cgroup_mounts, proc_cgroups, cgroup_dir.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
for _p in (ROOT / "src", TESTS):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import oci  # noqa: E402
from dockyard.image.bootstrap import build_busybox_rootfs, write_bundle  # noqa: E402
from hostprobe import (  # noqa: E402, F401 - used below and by the fixtures
    cgroup_dir,
    cgroup_mounts,
    mountinfo,
    parse_status,
    pid_alive,
    proc_cgroups,
    proc_starttime,
    status_field,
    wait_for,
)

DEFAULT_TIMEOUT = 30.0
SETTLE_TIMEOUT = 10.0


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", name.removeprefix("test_")).strip("-").lower()
    return s[:24].strip("-") or "t"


class Output:
    """The read end of a pipe given to a container as stdout: read with deadlines, no sleeps."""

    def __init__(self):
        self.r, self.w = os.pipe()
        self.buf = b""
        self.eof = False

    def close_writer(self) -> None:
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def close(self) -> None:
        self.close_writer()
        if self.r >= 0:
            os.close(self.r)
            self.r = -1

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([self.r], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(self.r, 65536)
        if chunk:
            self.buf += chunk
        else:
            self.eof = True

    def readline(self, timeout: float = 10.0) -> str:
        """The next line (without its newline); AssertionError on EOF or timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                raise AssertionError(f"EOF before a full line; got {self.buf!r}")
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(f"no line within {timeout}s; got {self.buf!r}") from None
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")

    def expect(self, text: str, timeout: float = 10.0) -> str:
        """Read lines until one equals ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(deadline - time.monotonic(), 0.001))
            if line == text:
                return line

    def read(self, timeout: float = 10.0) -> str:
        """Everything until EOF (every holder of the write end has closed it)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(f"no EOF within {timeout}s; got {self.buf!r}") from None
        data, self.buf = self.buf, b""
        return data.decode(errors="replace")

    def drain(self) -> bytes:
        """Take whatever has arrived so far, without waiting."""
        while select.select([self.r], [], [], 0)[0]:
            chunk = os.read(self.r, 65536)
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
        data, self.buf = self.buf, b""
        return data

    def quiet_for(self, seconds: float) -> bool:
        """True if nothing arrives for ``seconds`` (a negative check: no event to wait on)."""
        ready, _, _ = select.select([self.r], [], [], seconds)
        return not ready


# --- per-test context ------------------------------------------------------------------------


class TestContext:
    """Names, directories and factories for one test; everything it names carries ``slug``."""

    __test__ = False  # not a test class

    def __init__(self, name: str, tmp: Path, rootfs: Path):
        self.slug = f"{_slug(name)}-{secrets.token_hex(3)}"
        self.tmp = tmp
        # unix socket paths are limited to 107 bytes: keep sockets and state roots short
        self.short = Path(tempfile.mkdtemp(prefix="dyt-", dir="/tmp"))
        self.rootfs = rootfs
        self._n = itertools.count(1)
        self._bundles = itertools.count(1)
        self.runtimes: list[Runtime] = []

    def new_id(self) -> str:
        return f"dy-{self.slug}-{next(self._n)}"

    def cgroup_name(self) -> str:
        return f"dockyard-test-{self.slug}-{next(self._n)}"

    def config(self, args: Iterable[str] = ("sh",), **kw) -> dict:
        kw.setdefault("cgroups_path", self.cgroup_name())
        return oci.minimal_config(list(args), **kw)

    def bundle(
        self,
        config: dict | None = None,
        *,
        rootfs: bool | Path = True,
        name: str | None = None,
        parent: Path | None = None,
    ) -> Path:
        """A fresh bundle directory with ``config.json`` and a private copy of the rootfs."""
        config = self.config() if config is None else config
        path = (parent or self.tmp) / (name or f"bundle{next(self._bundles)}")
        src = self.rootfs if rootfs is True else (rootfs or None)
        write_bundle(path, config, src)
        return path

    def write_config(self, bundle: Path, config: dict) -> None:
        (bundle / "config.json").write_text(json.dumps(config, indent=2))

    def watched_dirs(self) -> list[str]:
        return [str(self.tmp), str(self.short)]


# --- the runtime driver ----------------------------------------------------------------------

_version_cache: dict[str, str] = {}


class Runtime:
    """Drives a runc-compatible CLI with a private ``--root`` and tracks what it creates.

    Every call returns a ``subprocess.CompletedProcess`` with text ``stdout``/``stderr``;
    ``check=True`` turns a non-zero exit into an AssertionError showing the command and
    its stderr.
    """

    def __init__(self, binary: str, ctx: TestContext, label: str):
        self.binary = binary
        self.ctx = ctx
        self.label = label
        self.root = ctx.short / label
        self.ids: list[str] = []
        self.pids: dict[int, int | None] = {}  # pid -> starttime
        self.procs: list[subprocess.Popen] = []
        self.out: dict[str, Output] = {}
        self.last: subprocess.CompletedProcess | None = None

    def __repr__(self) -> str:
        return f"Runtime({self.binary!r}, root={str(self.root)!r})"

    # identity

    @property
    def version(self) -> str:
        if self.binary not in _version_cache:
            r = subprocess.run(
                [self.binary, "--version"], capture_output=True, text=True, timeout=30
            )
            _version_cache[self.binary] = r.stdout
        return _version_cache[self.binary]

    @property
    def is_runc(self) -> bool:
        return self.version.startswith("runc version")

    def skip_if_runc(self, reason: str) -> None:
        """For checks runc 1.1.5 itself fails: expected of the runtime under test only."""
        if self.is_runc:
            pytest.skip(f"runc 1.1.5 fails this: {reason}")

    # raw CLI

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *map(str, args)]

    def cli(
        self,
        *args,
        check: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        **kw,
    ) -> subprocess.CompletedProcess:
        kw.setdefault("stdin", None if input is not None else subprocess.DEVNULL)
        if input is not None:
            kw.pop("stdin")
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        r = subprocess.run(self.cmd(*args), input=input, text=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError(
                f"{' '.join(r.args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
            )
        return r

    def popen(self, *args, **kw) -> subprocess.Popen:
        """Start the CLI in the background (tracked: killed by the finalizer if still running)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(self.cmd(*args), **kw)
        self.procs.append(p)
        return p

    def track(self, cid: str) -> str:
        if cid not in self.ids:
            self.ids.append(cid)
        return cid

    def track_pid(self, pid: int) -> int:
        self.pids.setdefault(pid, proc_starttime(pid))
        return pid

    def new_id(self) -> str:
        return self.track(self.ctx.new_id())

    # lifecycle

    def run(self, bundle: Path, cid: str | None = None, *flags, **kw):
        cid = self.track(cid or self.ctx.new_id())
        return self.cli("run", "--bundle", bundle, *flags, cid, **kw)

    def create(self, bundle: Path, cid: str | None = None, *flags, check: bool = True, **kw) -> str:
        """``create``; the container's stdout is a pipe (``self.out[cid]``), its stderr a file.

        A pipe captured by ``subprocess.run`` would block until the container exits, since
        the container inherits it; so the runtime gets our pipe's write end instead.
        """
        return self._detached("create", bundle, cid, flags, check, kw)

    def run_detached(
        self, bundle: Path, cid: str | None = None, *flags, check: bool = True, **kw
    ) -> str:
        """``run --detach`` with the same stdio arrangement as :meth:`create`."""
        return self._detached("run", bundle, cid, ("--detach", *flags), check, kw)

    def _detached(self, verb, bundle, cid, flags, check, kw) -> str:
        cid = self.track(cid or self.ctx.new_id())
        out = self.out[cid] = Output()
        err_path = self.ctx.tmp / f"{cid}.stderr"
        with open(err_path, "w") as err:
            try:
                r = self.cli(verb, "--bundle", bundle, *flags, cid, stdout=out.w, stderr=err, **kw)
            finally:
                out.close_writer()
        self.last = r
        if check and r.returncode != 0:
            raise AssertionError(
                f"{' '.join(r.args)} exited {r.returncode}\nstderr: {err_path.read_text()}"
            )
        return cid

    def stderr(self, cid: str) -> str:
        """What the runtime and the container wrote to stderr since :meth:`create`."""
        path = self.ctx.tmp / f"{cid}.stderr"
        return path.read_text() if path.exists() else ""

    def start(self, cid: str, check: bool = True, **kw):
        return self.cli("start", cid, check=check, **kw)

    def state(self, cid: str) -> dict:
        r = self.cli("state", cid, check=True)
        st = json.loads(r.stdout)
        if st.get("pid"):
            self.track_pid(st["pid"])
        return st

    def status(self, cid: str) -> str | None:
        """The container's status, or None if the runtime does not know it."""
        r = self.cli("state", cid)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)["status"]
        except (ValueError, KeyError, TypeError):
            return None

    def kill(self, cid: str, sig: str = "KILL", *, all: bool = False, check: bool = True):
        return self.cli("kill", *(["--all"] if all else []), cid, sig, check=check)

    def delete(self, cid: str, *, force: bool = False, check: bool = True):
        return self.cli("delete", *(["--force"] if force else []), cid, check=check)

    def exec(self, cid: str, *args, flags: Iterable[str] = (), **kw):
        return self.cli("exec", *flags, cid, *args, **kw)

    def exec_detached(self, cid: str, *args, flags: Iterable[str] = (), **kw) -> Output:
        """``exec --detach``: the process's stdout is a pipe we read; stderr goes to a file."""
        out = Output()
        self.out.setdefault(f"{cid}/exec{len(self.out)}", out)
        with open(self.ctx.tmp / f"{cid}.exec.stderr", "a") as err:
            try:
                r = self.cli("exec", "--detach", *flags, cid, *args, stdout=out.w, stderr=err, **kw)
            finally:
                out.close_writer()
        self.last = r
        if r.returncode != 0:
            text = (self.ctx.tmp / f"{cid}.exec.stderr").read_text()
            raise AssertionError(f"{' '.join(r.args)} exited {r.returncode}\nstderr: {text}")
        return out

    def wait_status(self, cid: str, *statuses: str, timeout: float = 10.0) -> dict:
        """Poll ``state`` until the status is one of ``statuses``; return the state."""
        last: dict = {}

        def reached():
            nonlocal last
            r = self.cli("state", cid)
            if r.returncode == 0:
                last = json.loads(r.stdout)
                return last["status"] in statuses
            return False

        try:
            wait_for(reached, timeout)
        except TimeoutError:
            raise AssertionError(
                f"{cid}: status {last.get('status')!r}, wanted {statuses}"
            ) from None
        return last

    def sh(self, script: str, config: dict | None = None, *flags, **kw):
        """Run ``sh -c script`` in a fresh busybox bundle in the foreground; return the result."""
        cfg = self.ctx.config() if config is None else config
        oci.sh(cfg, script)
        return self.run(self.ctx.bundle(cfg), None, *flags, **kw)

    def sh_ok(self, script: str, config: dict | None = None, *flags, **kw) -> str:
        """Like :meth:`sh` but requires exit 0; returns stdout."""
        r = self.sh(script, config, *flags, **kw)
        assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        return r.stdout

    # cleanup

    def cleanup(self) -> None:
        """Kill and force-delete every container the test named; stop our background CLIs.

        Best effort: a runtime that hangs or crashes here must not stop the rest of the
        cleanup (the leak check that follows reports whatever is left).
        """
        for cid in reversed(self.ids):
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                st = self.status(cid) if self.root.exists() else None
                if st in ("created", "running", "paused", "creating"):
                    if st == "paused":
                        self.cli("resume", cid, timeout=10)
                    self.cli("kill", "--all", cid, "KILL", timeout=10)
                if self.root.exists():
                    self.cli("delete", "--force", cid, timeout=10)
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
                p.communicate(timeout=10)
        for out in self.out.values():
            out.close()


# --- leak checks -----------------------------------------------------------------------------


def _test_processes(ctx: TestContext) -> dict[int, str]:
    """Live processes that belong to the test: in its cgroups, or naming its directories."""
    found = {}
    watched = ctx.watched_dirs()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if proc_starttime(int(entry.name)) is None:
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ")
            cgroups = Path(entry.path, "cgroup").read_text()
        except OSError:
            continue
        text = cmdline.decode(errors="replace").strip()
        if ctx.slug in cgroups or ctx.slug in text or any(d in text for d in watched):
            found[int(entry.name)] = text[:200]
    return found


def _test_mounts(ctx: TestContext) -> list[dict]:
    watched = ctx.watched_dirs()
    return [
        m
        for m in mountinfo()
        if ctx.slug in m["mountpoint"]
        or any(m["mountpoint"] == d or m["mountpoint"].startswith(d + "/") for d in watched)
    ]


def _test_cgroups(ctx: TestContext) -> list[Path]:
    found = []
    for mnt in cgroup_mounts().values():
        for dirpath, dirnames, _ in os.walk(mnt):
            found += [Path(dirpath, d) for d in dirnames if ctx.slug in d]
    return found


def _leaks(ctx: TestContext) -> list[str]:
    problems = []
    for rt in ctx.runtimes:
        if rt.root.is_dir():
            problems += [f"state left: {e}" for e in rt.root.iterdir() if ctx.slug in e.name]
        problems += [f"process left: {p.pid} {p.args}" for p in rt.procs if p.poll() is None]
        for pid, start in rt.pids.items():
            if start is not None and pid_alive(pid, start):
                problems.append(f"process left: pid {pid} (started by the test)")
    problems += [f"mount left: {m['mountpoint']} ({m['fstype']})" for m in _test_mounts(ctx)]
    problems += [f"cgroup left: {c}" for c in _test_cgroups(ctx)]
    problems += [f"process left: {pid} {cmd}" for pid, cmd in _test_processes(ctx).items()]
    return sorted(set(problems))


def _force_cleanup(ctx: TestContext) -> None:
    """Last resort after a reported leak: unmount, kill the test's processes, remove cgroups.

    Only processes the test started are killed: pids it recorded, and processes inside
    its own cgroups or running with its own directories on their command line.
    """
    for m in reversed(_test_mounts(ctx)):
        subprocess.run(["umount", "-l", m["mountpoint"]], capture_output=True)
    victims = set(_test_processes(ctx))
    for rt in ctx.runtimes:
        victims |= {pid for pid, start in rt.pids.items() if start and pid_alive(pid, start)}
    for pid in victims:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not any(pid_alive(p) for p in victims), 5)

    def remove_cgroups() -> bool:
        # an exiting task keeps its cgroup busy for a moment: retry until the deadline
        for path in sorted(_test_cgroups(ctx), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()
        return not _test_cgroups(ctx)

    with contextlib.suppress(TimeoutError):
        wait_for(remove_cgroups, 5)


# --- fixtures --------------------------------------------------------------------------------


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> Path:
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    return build_busybox_rootfs(tmp_path_factory.mktemp("cache") / "busybox-rootfs")


@pytest.fixture
def testctx(request, tmp_path, busybox_rootfs):
    ctx = TestContext(request.node.name, tmp_path, busybox_rootfs)
    yield ctx
    for rt in ctx.runtimes:
        try:
            rt.cleanup()
        except Exception as e:  # report below, after the leak check
            print(f"cleanup of {rt}: {e!r}")
    problems: list[str] = []
    try:
        wait_for(lambda: not _leaks(ctx), SETTLE_TIMEOUT)
    except TimeoutError:
        problems = _leaks(ctx)
        _force_cleanup(ctx)
    if not any("mount left" in p for p in problems):
        shutil.rmtree(ctx.short, ignore_errors=True)
    if problems:
        pytest.fail("leaked after the test:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def config(testctx) -> Callable[..., dict]:
    return testctx.config


@pytest.fixture
def bundle(testctx) -> Callable[..., Path]:
    return testctx.bundle


def runtime_under_test() -> str | None:
    """``$DOCKYARD_RUNTIME`` (a path or a name on PATH), else .venv/bin/dockyard-runtime."""
    env = os.environ.get("DOCKYARD_RUNTIME")
    if env:
        found = shutil.which(env) or env
        if not os.access(found, os.X_OK):
            pytest.fail(f"DOCKYARD_RUNTIME={env}: not an executable", pytrace=False)
        return os.path.abspath(found)
    default = ROOT / ".venv/bin/dockyard-runtime"
    return str(default) if default.exists() else None


@pytest.fixture
def runtime(testctx) -> Runtime:
    _require_root()
    binary = runtime_under_test()
    if binary is None:
        pytest.skip("no runtime under test: set DOCKYARD_RUNTIME or install dockyard-runtime")
    rt = Runtime(binary, testctx, "rt")
    testctx.runtimes.append(rt)
    return rt


@pytest.fixture
def runc(testctx) -> Runtime:
    _require_root()
    binary = shutil.which("runc")
    if binary is None:
        pytest.skip("runc is not installed")
    rt = Runtime(binary, testctx, "runc")
    testctx.runtimes.append(rt)
    return rt


@pytest.fixture(scope="module")
def busybox_store(tmp_path_factory):
    """An image store holding busybox, made offline once per module."""
    from dockyard.image.bootstrap_image import bootstrap_busybox
    from dockyard.image.store import ImageStore

    st = ImageStore(tmp_path_factory.mktemp("engine-data"))
    bootstrap_busybox(st)
    yield st
    st.close()


@pytest.fixture(scope="session")
def _scratch_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@pytest.fixture
def scratch(_scratch_base: Path) -> Path:
    """A fresh empty directory (cheaper than tmp_path, which costs milliseconds each)."""
    return Path(tempfile.mkdtemp(dir=_scratch_base))

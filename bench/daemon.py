#!/usr/bin/env python3
"""dockyardd + the dockyard CLI vs Podman, beside Docker's figures from issue 4.

    sudo .venv/bin/python bench/daemon.py [--runs 10] [--detached 20] [--output-mb 200]
                                          [--output-runs 3] [--no-write]

In one run, side by side, alternating dockyard and podman where that makes sense:
  1. ``run --rm busybox true`` end to end through each CLI (wall time of the client
     process), --runs each after a warm-up; medians. Then ``dockyard version`` beside
     the docker CLI's ``docker version`` against the same dockyardd (CLI start-up).
  2. --detached x ``run -d busybox sleep 300`` (total wall time, alternating one
     container each), then the memory each running container costs outside itself:
     PSS (``/proc/<pid>/smaps_rollup``) of dockyard's shim vs podman's conmon, per
     container, median; then ``rm -f`` of them all.
  3. --output-mb MB of container output (1 KiB lines from busybox ``yes``, cut by
     ``head -c``) through ``run`` attached (client stdout to /dev/null), then through
     ``logs`` of the finished container; MB/s (10^6 bytes), medians of --output-runs.

Both engines run with ``--network none`` (podman's networking is not set up on these
machines), busybox from Debian's busybox-static, podman with private storage (vfs),
a private CONTAINERS_CONF (cgroupfs, k8s-file logs, ulimits within the hard limits) and
Debian's runc; dockyardd with its own socket, data root, exec root and cgroup parent,
and its built-in runtime. Docker is not driven (no ``dockerd`` on our machines): its
figures are the ones measured for issue 4 on the test machine. Replaces the section
between ``<!-- bench:daemon:start -->`` and ``<!-- bench:daemon:end -->`` in
docs/benchmarks.md. Needs root. Never a timed test.
Cleans up its daemon, containers, bridge, nftables table, podman storage and temp dirs
on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from dockyard.image.bootstrap import build_busybox_rootfs  # noqa: E402
from dockyard.image.bootstrap_image import bootstrap_busybox  # noqa: E402
from dockyard.image.store import ImageStore  # noqa: E402

SECTION_START = "<!-- bench:daemon:start -->"
SECTION_END = "<!-- bench:daemon:end -->"
VENV = ROOT / ".venv/bin"
DY_IMAGE = "busybox:latest"
PM_IMAGE = "localhost/busybox:latest"

# Docker's figures on the test machine (issue 4), and the targets
DOCKER_RUN_S = 0.34
PODMAN_RUN_S_ISSUE = 0.36
DOCKER_50_DETACHED_S = 13.5
PODMAN_50_DETACHED_S = 8.2
DOCKER_SHIM_PSS_MIB = 2.6
PODMAN_CONMON_PSS_MIB = 0.4
DOCKER_ATTACH_MBS = 28.0
DOCKER_LOGS_MBS = 19.0

# podman (c/image, its network code) creates these even with private storage; removed
# afterwards if (and only if) they did not exist before and are empty again.
PODMAN_HOST_LEFTOVERS = [
    Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
    Path("/var/lib/containers/cache"),
    Path("/var/lib/containers"),
    Path("/run/containers/networks"),
    Path("/run/containers"),
]


def _ulimit(which: int, want: int) -> str:
    hard = resource.getrlimit(which)[1]
    n = want if hard == resource.RLIM_INFINITY else min(want, hard)
    return f"{n}:{n}"


def output_cmd(nbytes: int) -> list[str]:
    # 1 KiB lines: 1023 zeros and a newline, cut at exactly nbytes
    return ["sh", "-c", f'yes "$(printf %01023d 0)" | head -c {nbytes}']


class Failed(Exception):
    pass


def check(r: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr
        raise Failed(f"{what}: exit {r.returncode}: {(err or '').strip()[-500:]}")
    return r


class Engine:
    name = "?"
    image = "?"

    def cmd(self, *args: str) -> list[str]:
        raise NotImplementedError

    env: dict[str, str] | None = None

    def __call__(
        self, *args: str, stdout=subprocess.PIPE, timeout: float = 300, what: str | None = None
    ) -> subprocess.CompletedProcess:
        r = subprocess.run(
            self.cmd(*args),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        return check(r, what or f"{self.name} {' '.join(args[:3])}")

    def timed(self, *args: str, stdout=subprocess.DEVNULL, timeout: float = 300) -> float:
        t0 = time.perf_counter()
        self(*args, stdout=stdout, timeout=timeout)
        return time.perf_counter() - t0

    def run_args(self) -> list[str]:
        return ["--network", "none"]

    def helper_pid(self, cid: str) -> int:
        raise NotImplementedError


class Dockyard(Engine):
    name = "dockyard"
    image = DY_IMAGE

    def __init__(self, work: Path):
        self.work = work
        self.sock = work / "dy.sock"
        self.data = work / "dy-data"
        self.run_root = work / "dy-run"
        self.proc: subprocess.Popen | None = None
        # a cgroup parent, default bridge and nftables table of our own, removed on exit
        # (a daemon keeps its bridge when it stops, as dockerd keeps docker0)
        self.cgroup_parent = f"dockyard-bench-{os.getpid()}"
        self.bridge = f"dyb{os.getpid() % 100000}"
        self.nat_table = f"dockyard-bench-{os.getpid()}"
        self.env = {**os.environ, "DOCKYARD_CGROUP_PARENT": self.cgroup_parent,
                    "DOCKYARD_BRIDGE": self.bridge, "DOCKYARD_NAT_TABLE": self.nat_table}

    def cmd(self, *args: str) -> list[str]:
        return [str(VENV / "dockyard"), "-H", f"unix://{self.sock}", *args]

    def start(self) -> None:
        store = ImageStore(str(self.data))
        try:
            bootstrap_busybox(store, DY_IMAGE)
        finally:
            store.close()
        self.log = open(self.work / "dockyardd.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                str(VENV / "dockyardd"),
                "-H",
                f"unix://{self.sock}",
                "--data-root",
                str(self.data),
                "--exec-root",
                str(self.run_root),
                "--live-restore=false",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            r = subprocess.run(self.cmd("version"), capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise Failed(
            "dockyardd did not come up: "
            + (self.work / "dockyardd.log").read_text(errors="replace")[-2000:]
        )

    def version(self) -> str:
        r = subprocess.run(
            self.cmd("version", "--format", "{{.Server.Version}}"), capture_output=True, text=True
        )
        return r.stdout.strip() or "?"

    def helper_pid(self, cid: str) -> int:
        info = json.loads((self.run_root / "containers" / cid / "shim.json").read_text())
        return int(info["shim_pid"])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # containers first: the daemon runs with --live-restore=false, but be sure
            with contextlib.suppress(Exception):
                r = subprocess.run(
                    self.cmd("ps", "-aq", "--no-trunc"), capture_output=True, text=True, timeout=30
                )
                ids = r.stdout.split()
                if ids:
                    subprocess.run(self.cmd("rm", "-f", *ids), capture_output=True, timeout=120)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        remove_cgroup(self.cgroup_parent)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "inet", self.nat_table], capture_output=True)


class Podman(Engine):
    name = "podman"
    image = PM_IMAGE

    def __init__(self, work: Path):
        base = work / "pm"
        self.base = base
        self.cgroup_parent = f"/dockyard-bench-{os.getpid()}-podman"
        for d in ("root", "runroot", "tmp", "net"):
            (base / d).mkdir(parents=True, exist_ok=True)
        nofile = _ulimit(resource.RLIMIT_NOFILE, 1024)
        nproc = _ulimit(resource.RLIMIT_NPROC, 4096)
        conf = base / "containers.conf"
        conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}", "nproc={nproc}"]\n'
            'netns = "none"\n'
            'log_driver = "k8s-file"\n'
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
        self.existed = {p: p.exists() for p in PODMAN_HOST_LEFTOVERS}

    def cmd(self, *args: str) -> list[str]:
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
            *args,
        ]

    def run_args(self) -> list[str]:
        return ["--network", "none", "--cgroup-parent", self.cgroup_parent]

    def start(self, rootfs: Path, work: Path) -> None:
        tar = work / "busybox.tar"
        with tarfile.open(tar, "w") as t:
            t.add(rootfs, arcname=".")
        self("import", str(tar), PM_IMAGE)
        tar.unlink()

    def version(self) -> str:
        r = subprocess.run(["podman", "--version"], capture_output=True, text=True)
        return r.stdout.strip()

    def helper_pid(self, cid: str) -> int:
        r = self("inspect", "--format", "{{.State.ConmonPid}}", cid)
        return int(r.stdout.strip())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            subprocess.run(
                self.cmd("rm", "-a", "-f", "-t", "0"),
                env=self.env,
                capture_output=True,
                timeout=120,
            )
        with contextlib.suppress(Exception):
            subprocess.run(
                self.cmd("system", "reset", "--force"),
                env=self.env,
                capture_output=True,
                timeout=120,
            )
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            mnt = line.split()[4]
            if mnt.startswith(str(self.base) + "/"):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        remove_cgroup(self.cgroup_parent)
        for path, was in self.existed.items():
            if not was and path.exists():
                with contextlib.suppress(OSError):
                    path.unlink() if path.is_file() else path.rmdir()


def remove_cgroup(parent: str, wait: float = 5.0) -> None:
    """rmdir (bottom up) of a cgroup parent of ours in every hierarchy; only empty ones go.

    Retries for up to ``wait`` seconds: a helper (conmon, a shim) that is exiting may
    still be in its cgroup for a moment after ``rm -f`` returned.
    """
    deadline = time.monotonic() + wait
    while True:
        left = []
        for mnt in Path("/sys/fs/cgroup").iterdir():
            d = mnt / parent.strip("/")
            if not d.is_dir():
                continue
            for sub in sorted(d.rglob("*"), key=lambda x: len(x.parts), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                d.rmdir()
            if d.is_dir():
                left.append(d)
        if not left or time.monotonic() > deadline:
            if left:
                print(f"left behind (not empty): {', '.join(map(str, left))}", file=sys.stderr)
            return
        time.sleep(0.2)


def compile_bytecode() -> None:
    """Bytecode for every module, as an installed package has it: with
    PYTHONDONTWRITEBYTECODE (or a source tree edited since the last run) each CLI
    process would otherwise compile what it imports, and the bench would time that."""
    import compileall

    compileall.compile_dir(str(ROOT / "src" / "dockyard"), quiet=1)


def pss_kib(pid: int) -> int:
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total


# --- the measurements ----------------------------------------------------------------------


def bench_run_rm(engines: list[Engine], runs: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {e.name: [] for e in engines}
    for i in range(warmup + runs):
        order = engines if i % 2 == 0 else engines[::-1]
        for e in order:
            t = e.timed("run", "--rm", *e.run_args(), e.image, "true")
            if i >= warmup:
                times[e.name].append(t)
    # the CLI's floor: client start and one round trip to the daemon; beside it the
    # docker CLI (Go) against the same dockyardd, the issue's yardstick for start-up
    dy = engines[0]
    docker = shutil.which("docker")
    times["dockyard version"] = []
    if docker:
        times["docker version"] = []
    for _ in range(runs):
        times["dockyard version"].append(dy.timed("version"))
        if docker:
            t0 = time.perf_counter()
            subprocess.run([docker, "-H", f"unix://{dy.sock}", "version"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times["docker version"].append(time.perf_counter() - t0)
    return times


def bench_detached(engines: list[Engine], n: int) -> tuple[dict, dict, dict]:
    """Total time of n x run -d, PSS per helper (KiB), and the count of helper processes."""
    total = {e.name: 0.0 for e in engines}
    ids: dict[str, list[str]] = {e.name: [] for e in engines}
    try:
        for i in range(n):
            order = engines if i % 2 == 0 else engines[::-1]
            for e in order:
                t0 = time.perf_counter()
                r = e("run", "-d", *e.run_args(), e.image, "sleep", "300")
                total[e.name] += time.perf_counter() - t0
                ids[e.name].append(r.stdout.decode().strip().splitlines()[-1])
        time.sleep(1.0)  # let the helpers settle (lazy imports, first allocations)
        pss: dict[str, list[int]] = {}
        procs: dict[str, int] = {}
        for e in engines:
            pss[e.name] = []
            count = 0
            for cid in ids[e.name]:
                pid = e.helper_pid(cid)
                # one helper process per container for both (dockyard's shim, podman's
                # conmon, parent of the container's init); the container is not counted
                pss[e.name].append(pss_kib(pid))
                count += 1
            procs[e.name] = count
        return total, pss, procs
    finally:
        for e in engines:
            if ids[e.name]:
                rm = ["rm", "-f"] + (["-t", "0"] if e.name == "podman" else [])
                with contextlib.suppress(Failed, subprocess.TimeoutExpired):
                    e(*rm, *ids[e.name], timeout=180)


def bench_output(engines: list[Engine], nbytes: int, runs: int) -> tuple[dict, dict]:
    attach: dict[str, list[float]] = {e.name: [] for e in engines}
    logs: dict[str, list[float]] = {e.name: [] for e in engines}
    for i in range(runs):
        order = engines if i % 2 == 0 else engines[::-1]
        for e in order:
            name = f"dy-bench-out-{os.getpid()}-{e.name}-{i}"
            try:
                t = e.timed(
                    "run", "--name", name, *e.run_args(), e.image, *output_cmd(nbytes), timeout=600
                )
                attach[e.name].append(t)
                # the size that came through (once): the logs must hold all of it
                t0 = time.perf_counter()
                p = subprocess.Popen(
                    e.cmd("logs", name),
                    env=e.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                got = 0
                while chunk := p.stdout.read(1 << 20):
                    got += len(chunk)
                err = p.stderr.read()
                rc = p.wait()
                elapsed = time.perf_counter() - t0
                if rc != 0:
                    raise Failed(f"{e.name} logs: exit {rc}: {err.decode(errors='replace')[-500:]}")
                if got != nbytes:
                    raise Failed(f"{e.name} logs returned {got} bytes, expected {nbytes}")
                logs[e.name].append(elapsed)
            finally:
                with contextlib.suppress(Exception):
                    subprocess.run(
                        e.cmd("rm", "-f", name), env=e.env, capture_output=True, timeout=120
                    )
    return attach, logs


# --- the report ----------------------------------------------------------------------------


def host_line() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}"
    )


def write_section(output: Path, text: str) -> None:
    body = output.read_text() if output.exists() else "# Benchmarks\n"
    block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
    if SECTION_START in body and SECTION_END in body:
        pattern = re.escape(SECTION_START) + ".*?" + re.escape(SECTION_END)
        body = re.sub(pattern, lambda _m: block, body, flags=re.S)
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    output.write_text(body)


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(args, versions: dict[str, str], results: dict, failures: list[str]) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    med = statistics.median
    mb = args.output_mb
    lines = [
        "## Daemon: `run`, `run -d`, per-container memory, output throughput",
        "",
        f"{date}; {host_line()}.",
        f"`bench/daemon.py --runs {args.runs} --detached {args.detached} --output-mb {mb} "
        f"--output-runs {args.output_runs}`: dockyard CLI → "
        f"{versions.get('dockyard', 'dockyardd')} (built-in runtime) vs "
        f"{versions.get('podman', 'podman')} (Debian's runc, vfs storage, "
        "cgroupfs, k8s-file logs), both `--network none`, busybox from Debian's busybox-static; "
        "alternating; medians. Docker is not run here (no `dockerd` on these machines): its "
        "figures are the ones measured for issue 4 on the test machine.",
        "",
    ]
    run = results.get("run")
    if run:
        d, p = med(run["dockyard"]), med(run["podman"])
        lines += [
            f"**`run --rm busybox true`**, wall time of the CLI, {args.runs} runs each after "
            f"{args.warmup} warm-up:",
            "",
            "| contender | median | min | max | vs podman | vs Docker's 0.34 s |",
            "|---|---|---|---|---|---|",
            f"| dockyard | {d:.3f} s | {min(run['dockyard']):.3f} s | {max(run['dockyard']):.3f} s "
            f"| {d / p:.2f} | {d / DOCKER_RUN_S:.2f} |",
            f"| podman | {p:.3f} s | {min(run['podman']):.3f} s | {max(run['podman']):.3f} s "
            f"| 1.00 | {p / DOCKER_RUN_S:.2f} |",
            f"| Docker (issue 4) | {DOCKER_RUN_S:.2f} s | | | | 1.00 |",
            "",
            f"Target: dockyard ≤ 1/3 of Docker's ({DOCKER_RUN_S / 3:.3f} s): "
            f"{verdict(d <= DOCKER_RUN_S / 3)}. Podman here is {p / PODMAN_RUN_S_ISSUE:.2f}x its "
            f"{PODMAN_RUN_S_ISSUE} s on the test machine; scaled by that, dockyard would be "
            f"{d * PODMAN_RUN_S_ISSUE / p:.3f} s there.",
            "",
            f"Of dockyard's time, {med(run['dockyard version']):.3f} s (median) is the floor of "
            "any CLI command here: `dockyard version`, i.e. interpreter start, imports and one "
            "round trip to dockyardd.",
            "",
        ]
        if run.get("docker version"):
            dv, gv = med(run["dockyard version"]), med(run["docker version"])
            lines += [
                f"CLI start-up, `version` against the same dockyardd ({args.runs} runs each, "
                f"alternating): dockyard {dv * 1000:.1f} ms, the docker CLI {gv * 1000:.1f} ms "
                f"(Go, /usr/local/bin/docker): {dv / gv:.2f}x. Target ≤ 1.5x: "
                f"{verdict(dv <= 1.5 * gv)}.",
                "",
            ]
    det = results.get("detached")
    if det:
        total, pss, _procs = det
        n = args.detached
        d, p = total["dockyard"], total["podman"]
        d50, p50 = d * 50 / n, p * 50 / n
        dk, pk = med(pss["dockyard"]) / 1024, med(pss["podman"]) / 1024
        lines += [
            f"**{n} x `run -d busybox sleep 300`** (alternating one container each; "
            "the total for all) and the memory each running container costs outside itself "
            "(PSS from `/proc/PID/smaps_rollup` of dockyard's shim / podman's conmon, median "
            "over the containers, all running at once):",
            "",
            f"| contender | {n} x run -d | per 50 | vs podman | PSS per container | min | max |",
            "|---|---|---|---|---|---|---|",
            f"| dockyard | {d:.2f} s | {d50:.2f} s | {d / p:.2f} | {dk:.2f} MiB "
            f"| {min(pss['dockyard']) / 1024:.2f} | {max(pss['dockyard']) / 1024:.2f} |",
            f"| podman | {p:.2f} s | {p50:.2f} s | 1.00 | {pk:.2f} MiB "
            f"| {min(pss['podman']) / 1024:.2f} | {max(pss['podman']) / 1024:.2f} |",
            f"| Docker (issue 4) | | {DOCKER_50_DETACHED_S} s | | {DOCKER_SHIM_PSS_MIB} MiB | | |",
            "",
            f"Targets: 50 x run -d ≤ 1/2 of Podman's — of its {PODMAN_50_DETACHED_S} s on the "
            f"test machine ({PODMAN_50_DETACHED_S / 2:.1f} s), and here of podman's own time "
            "scaled to 50 "
            f"({p50 / 2:.2f} s): dockyard {d50:.2f} s, ratio to podman {d / p:.2f}, "
            f"{verdict(d <= p / 2)}. PSS ≤ 1 MiB per container: dockyard {dk:.2f} MiB, "
            f"{verdict(dk <= 1.0)} (podman's conmon {pk:.2f} MiB here, "
            f"{PODMAN_CONMON_PSS_MIB} MiB on the test machine; Docker's shim "
            f"{DOCKER_SHIM_PSS_MIB} MiB).",
            "",
        ]
    out = results.get("output")
    if out:
        attach, logs = out
        rate = {
            k: {e: mb / med(v) for e, v in d_.items() if v}
            for k, d_ in (("attach", attach), ("logs", logs))
        }
        da, pa = rate["attach"].get("dockyard"), rate["attach"].get("podman")
        dl, pl = rate["logs"].get("dockyard"), rate["logs"].get("podman")

        def f(x):
            return f"{x:.0f} MB/s" if x else "failed"

        def r(x, y):
            return f"{x / y:.2f}" if x and y else ""

        lines += [
            f"**{mb} MB of container output** (1 KiB lines, busybox `yes | head -c`): through "
            "`run` attached (client stdout to /dev/null; the time includes starting the "
            "container) and through `logs` of the finished container; MB/s of 10^6 bytes, "
            f"median of {args.output_runs}:",
            "",
            "| contender | run attached | vs Docker's 28 MB/s | logs | vs Docker's 19 MB/s |",
            "|---|---|---|---|---|",
            f"| dockyard | {f(da)} | {r(da, DOCKER_ATTACH_MBS)} "
            f"| {f(dl)} | {r(dl, DOCKER_LOGS_MBS)} |",
            f"| podman | {f(pa)} | {r(pa, DOCKER_ATTACH_MBS)} "
            f"| {f(pl)} | {r(pl, DOCKER_LOGS_MBS)} |",
            f"| Docker (issue 4) | {DOCKER_ATTACH_MBS:.0f} MB/s | 1.00 "
            f"| {DOCKER_LOGS_MBS:.0f} MB/s | 1.00 |",
            "",
            f"Target: ≥ 5x Docker ({5 * DOCKER_ATTACH_MBS:.0f} MB/s attached, "
            f"{5 * DOCKER_LOGS_MBS:.0f} MB/s logs): attached "
            f"{verdict(bool(da) and da >= 5 * DOCKER_ATTACH_MBS)}, logs "
            f"{verdict(bool(dl) and dl >= 5 * DOCKER_LOGS_MBS)}.",
            "",
        ]
    if failures:
        lines += ["Failed in this run:", ""] + [f"- {x}" for x in failures] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--detached", type=int, default=20)
    ap.add_argument("--output-mb", type=int, default=200)
    ap.add_argument("--output-runs", type=int, default=3)
    ap.add_argument("--only", choices=("run", "detached", "output"), action="append")
    ap.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        ap.error("needs root")
    if not shutil.which("podman"):
        ap.error("podman not found")
    if shutil.which("dockerd"):
        print(
            "note: dockerd is on PATH but this bench does not drive it; Docker's figures "
            "are the issue's",
            file=sys.stderr,
        )
    only = set(args.only or ("run", "detached", "output"))

    # podman refuses a runroot longer than 50 characters: a short temp dir
    work = Path(tempfile.mkdtemp(prefix="dyb-", dir="/tmp"))
    dy = Dockyard(work)
    pm = Podman(work)
    engines: list[Engine] = [dy, pm]
    results: dict = {}
    failures: list[str] = []
    t_start = time.perf_counter()
    try:
        rootfs = build_busybox_rootfs(work / "rootfs")
        compile_bytecode()
        dy.start()
        pm.start(rootfs, work)
        versions = {"dockyard": f"dockyardd {dy.version()}", "podman": pm.version()}
        steps = [
            ("run", lambda: bench_run_rm(engines, args.runs, args.warmup)),
            ("detached", lambda: bench_detached(engines, args.detached)),
            ("output", lambda: bench_output(engines, args.output_mb * 10**6, args.output_runs)),
        ]
        for key, fn in steps:
            if key not in only:
                continue
            t0 = time.perf_counter()
            try:
                results[key] = fn()
            except (Failed, subprocess.TimeoutExpired) as exc:
                failures.append(f"{key}: {exc}")
            print(f"[{key}: {time.perf_counter() - t0:.1f} s]", file=sys.stderr)
        text = report(args, versions, results, failures)
        print(text)
        print(f"[total {time.perf_counter() - t_start:.1f} s]", file=sys.stderr)
        if not args.no_write:
            write_section(args.output, text)
            print(f"\nwritten to {args.output}")
    finally:
        with contextlib.suppress(Exception):
            dy.stop()
        with contextlib.suppress(Exception):
            pm.stop()
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            mnt = line.split()[4]
            if mnt.startswith(str(work) + "/"):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""dockyard-runtime vs runc: ``run`` of ``true`` on the same busybox bundle.

    sudo .venv/bin/python bench/runtime.py [--runs 20] [--runtime PATH] [--runc PATH]
                                           [--output docs/benchmarks.md | --no-write]

The two runtimes alternate (runc, ours, ours, runc, ...) so that drift in the machine's
load hits both alike; we report medians and the ratio ours/runc. The library path (what
dockyardd will call in-process, without starting an interpreter) is timed through
:func:`library_run` when ``dockyard.runtime.api`` provides it.
Needs root. Never a timed test: run it by hand or from CI's bench job.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import oci  # noqa: E402  (tests/oci.py: the minimal config generator)
from dockyard.image.bootstrap import build_busybox_rootfs, write_bundle  # noqa: E402

SECTION_START = "<!-- bench:runtime:start -->"
SECTION_END = "<!-- bench:runtime:end -->"


# ---------------------------------------------------------------------------------------------
# HOOK: the in-process library path. The lead exposes dockyard.runtime.api.run_container;
# adapt the call here if its signature differs. It must run the bundle's process to
# completion (create + start + wait + delete) and return its exit status.
# ---------------------------------------------------------------------------------------------
def library_run(bundle: Path, id: str, root: Path) -> int:
    from dockyard.runtime.api import run_container

    return run_container(root=str(root), container_id=id, bundle=str(bundle))


def library_available() -> bool:
    try:
        from dockyard.runtime import api
    except ImportError:
        return False
    return hasattr(api, "run_container")


def default_runtime() -> str | None:
    env = os.environ.get("DOCKYARD_RUNTIME")
    if env:
        return shutil.which(env) or env
    path = ROOT / ".venv/bin/dockyard-runtime"
    return str(path) if path.exists() else None


def time_cli(binary: str, state: Path, bundle: Path, cid: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(
        [binary, "--root", str(state), "run", "--bundle", str(bundle), cid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{binary} run failed ({r.returncode}): {r.stderr.decode().strip()}")
    return elapsed


def time_library(state: Path, bundle: Path, cid: str) -> float:
    t0 = time.perf_counter()
    status = library_run(bundle, cid, state)
    elapsed = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"library_run exited {status}")
    return elapsed


def version_of(binary: str) -> str:
    r = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return (r.stdout.splitlines() or ["?"])[0]


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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def write_section(output: Path, text: str) -> None:
    body = output.read_text() if output.exists() else "# Benchmarks\n"
    block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
    if SECTION_START in body and SECTION_END in body:
        pattern = re.escape(SECTION_START) + ".*?" + re.escape(SECTION_END)
        body = re.sub(pattern, lambda _m: block, body, flags=re.S)
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runtime", default=default_runtime(), help="runtime under test")
    ap.add_argument("--runc", default=shutil.which("runc"))
    ap.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        ap.error("needs root")
    if not args.runc:
        ap.error("runc not found")

    work = Path(tempfile.mkdtemp(prefix="dy-bench-"))
    try:
        rootfs = build_busybox_rootfs(work / "rootfs-cache")
        config = oci.minimal_config(["true"], cgroups_path=f"dockyard-bench-{os.getpid()}")
        bundle = write_bundle(work / "bundle", config, rootfs)
        contenders: dict[str, object] = {"runc": args.runc}
        if args.runtime:
            contenders["dockyard-runtime"] = args.runtime
        else:
            print("dockyard-runtime: not available (set DOCKYARD_RUNTIME or install it)")
        lib = library_available()
        if lib:
            contenders["library"] = None
        else:
            print("library path: not available (dockyard.runtime.api.run_container)")

        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        n = 0
        for i in range(args.warmup + args.runs):
            order = names if i % 2 == 0 else names[::-1]  # alternate who goes first
            for name in order:
                n += 1
                state = work / f"state-{name}"
                cid = f"dy-bench-{os.getpid()}-{n}"
                if name == "library":
                    t = time_library(state, bundle, cid)
                else:
                    t = time_cli(contenders[name], state, bundle, cid)
                if i >= args.warmup:
                    times[name].append(t)

        med = {name: statistics.median(ts) for name, ts in times.items()}
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "## OCI runtime: `run` of `true` on a busybox bundle",
            "",
            f"{date}; {host_line()}.",
            f"`bench/runtime.py --runs {args.runs}`: {args.runs} runs each, alternating, after "
            f"{args.warmup} warm-up runs; runc is `{version_of(args.runc)}`.",
            "",
            "| contender | median | min | max | ratio to runc |",
            "|---|---|---|---|---|",
        ]
        for name, ts in times.items():
            ratio = med[name] / med["runc"]
            lines.append(
                f"| {name} | {ms(med[name])} | {ms(min(ts))} | {ms(max(ts))} | {ratio:.2f} |"
            )
        if not args.runtime:
            lines.append("| dockyard-runtime | not available | | | |")
        if not lib:
            lines.append("| library | not available | | | |")
        lines += [
            "",
            "Targets (issue 2): dockyard-runtime as a fresh process ≤ 1.0x runc; the library "
            "path ≤ 0.5x runc.",
        ]
        text = "\n".join(lines)
        print(text)
        if not args.no_write:
            write_section(args.output, text)
            print(f"\nwritten to {args.output}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

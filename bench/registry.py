"""Pull and push through Debian's docker-registry on loopback, beside skopeo.

An image with one layer of incompressible random data (500 MiB by default) is made
in a dockyard store; then, in one run:
  dockyard push   store -> registry (gzip blob made once, at image creation)
  skopeo copy     registry repo -> another repo (no unpacking: a copy of blobs)
  dockyard pull   registry -> a fresh store, unpacked into an overlay snapshot
Rates are MB/s of the layer's uncompressed size (10^6 bytes), medians of --runs.
Run as root: `.venv/bin/python bench/registry.py [--size-mib 500] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from dockyard.distribution import RegistryClient  # noqa: E402
from dockyard.image.config import RunConfig, new_image_config  # noqa: E402
from dockyard.image.local import add_layer, register_image  # noqa: E402
from dockyard.image.pull import pull  # noqa: E402
from dockyard.image.push import push  # noqa: E402
from dockyard.image.store import ImageStore  # noqa: E402
from dockyard.store.archive import write_tree  # noqa: E402
from registry_server import run_registry  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:registry:start -->", "<!-- bench:registry:end -->"


def make_image(store: ImageStore, size_mib: int, workdir: Path) -> None:
    rootfs = workdir / "rootfs"
    rootfs.mkdir()
    with open(rootfs / "random.bin", "wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(1 << 20))
    with store.meta.lease() as lease:
        layer, diff_id = add_layer(store, lambda out: write_tree(rootfs, out), lease)
        config = new_image_config(architecture="amd64", diff_ids=[diff_id],
                                  config=RunConfig(cmd=["true"]))
        register_image(store, config, [layer], ["bench/random:1"], lease)
    shutil.rmtree(rootfs)


async def timed_push(store: ImageStore, ref: str, host: str) -> float:
    started = time.perf_counter()
    async with RegistryClient(host) as client:
        await push(store, ref, client)
    return time.perf_counter() - started


async def timed_pull(store: ImageStore, ref: str, host: str) -> float:
    started = time.perf_counter()
    async with RegistryClient(host) as client:
        await pull(store, ref, client)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("skopeo") or not shutil.which("docker-registry"):
        print("needs root, skopeo and docker-registry", file=sys.stderr)
        return 1
    megabytes = args.size_mib * (1 << 20) / 1e6
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-registry-"))
    pushes, copies, pulls = [], [], []
    try:
        source = ImageStore(work / "source")
        make_image(source, args.size_mib, work)
        with run_registry(work, name="registry") as registry:
            for run in range(args.runs):
                ref = f"{registry.host}/bench/push{run}:1"
                source.tag("bench/random:1", ref)
                pushes.append(asyncio.run(timed_push(source, ref, registry.host)))
                started = time.perf_counter()
                subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                                "--dest-tls-verify=false", f"docker://{ref}",
                                f"docker://{registry.host}/bench/copy{run}:1"],
                               check=True, capture_output=True)
                copies.append(time.perf_counter() - started)
                target = ImageStore(work / f"pull{run}")
                pulls.append(asyncio.run(timed_pull(target, ref, registry.host)))
                target.close()
                with contextlib.suppress(OSError):
                    shutil.rmtree(work / f"pull{run}")
        source.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rates = {name: megabytes / statistics.median(values)
             for name, values in (("push", pushes), ("skopeo", copies), ("pull", pulls))}
    report = render(rates, args.size_mib, args.runs)
    print(report)
    if not args.no_write:
        write_docs(report)
    return 0


def render(rates: dict[str, float], size_mib: int, runs: int) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "## Registry: pull and push of one random layer",
        "",
        f"{now}; {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs. "
        f"`bench/registry.py --size-mib {size_mib} --runs {runs}`: Debian's docker-registry on "
        "loopback; medians; MB/s of uncompressed layer data.",
        "",
        "| operation | rate | vs skopeo copy |",
        "|---|---|---|",
        f"| skopeo copy (registry to registry, no unpacking) | {rates['skopeo']:.0f} MB/s | 1.00 |",
        f"| dockyard push | {rates['push']:.0f} MB/s | {rates['push'] / rates['skopeo']:.2f} |",
        f"| dockyard pull, unpacked into a snapshot | {rates['pull']:.0f} MB/s | "
        f"{rates['pull'] / rates['skopeo']:.2f} |",
        "",
        "Targets (issue 3): pull with unpacking at least 2x Docker's ~96 MB/s on the test "
        "machine (192 MB/s); push at least skopeo's rate. Docker is not run here (no dockerd "
        "on these machines); its figures are the ones measured for the issue.",
    ])


def write_docs(report: str) -> None:
    section = f"{BEGIN}\n{report}\n{END}"
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    if BEGIN in text:
        before, rest = text.split(BEGIN, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())

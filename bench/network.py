#!/usr/bin/env python3
"""Networking through dockyardd vs Docker (Debian's docker.io), on the same machine, in one run.

    sudo .venv/bin/python bench/network.py [--mb 100] [--runs 3] [--pings 3000] [--no-write]

Each engine runs inside a network namespace of its own (made here, removed on exit), so
that neither engine's rules touch the host's or each other's: dockerd's iptables chains,
docker0 and docker-proxy stay in its namespace. Each namespace has ``lo`` with 198.18.0.1/32
(the benchmarking range) besides 127.0.0.1, standing for the host's own address.
Both engines use their defaults (Docker: userland proxy on, as shipped), busybox from
Debian's busybox-static, the default bridge network.

Measured, alternating the engines run by run, medians:
  1. a published port (``-p 8080:80``): busybox ``httpd`` serves a --mb MB file; a client
     in the engine's namespace downloads it through 198.18.0.1:8080 (the kernel's DNAT for
     both) and through 127.0.0.1:8080 (Docker: its docker-proxy; dockyard: DNAT with
     route_localnet), MB/s (10^6 bytes per second);
  2. latency through the published port: a TCP echo (busybox ``nc -ll -e cat``), --pings
     1-byte round trips from the namespace, median and 99th percentile in microseconds;
  3. container to container over the bridge: a second container fetches the file from the
     first one's address with busybox ``nc``, MB/s from busybox ``time``.

Replaces the section between ``<!-- bench:network:start -->`` and
``<!-- bench:network:end -->`` in docs/benchmarks.md. Needs root; never a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv/bin"
SECTION_START = "<!-- bench:network:start -->"
SECTION_END = "<!-- bench:network:end -->"
HOST_ADDR = "198.18.0.1"
IMAGE = "busybox:latest"
HTTP_PORT = 8080
ECHO_PORT = 8081


class Failed(Exception):
    pass


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 300,
        what: str = "") -> str:
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise Failed(f"{what or ' '.join(cmd[:4])}: exit {r.returncode}: {r.stderr.strip()[-600:]}")
    return r.stdout


# --- the client side, run inside an engine's namespace (``--client ...``) -----------------


def client_http(host: str, port: int, path: str) -> dict[str, float]:
    """GET path over HTTP/1.0; bytes of the body and seconds from connect to the last byte."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    t0 = time.perf_counter()
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        total = 0
        while True:
            n = s.recv_into(view)
            if not n:
                break
            total += n
    return {"bytes": total, "seconds": time.perf_counter() - t0}


def client_echo(host: str, port: int, count: int) -> dict[str, list[float]]:
    """``count`` 1-byte round trips over one connection; each in microseconds."""
    with socket.create_connection((host, port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(50):  # warm-up: the echo process may still be starting its cat
            s.sendall(b"x")
            s.recv(1)
        out = []
        for _ in range(count):
            t0 = time.perf_counter_ns()
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise Failed("echo: wrong byte back")
            out.append((time.perf_counter_ns() - t0) / 1000)
    return {"rtt_us": out}


def wait_port(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def client_main(argv: list[str]) -> int:
    kind, host, port = argv[0], argv[1], int(argv[2])
    wait_port(host, port, time.monotonic() + 20)
    if kind == "http":
        result: dict = client_http(host, port, argv[3])
    else:
        result = client_echo(host, port, int(argv[3]))
    print(json.dumps(result))
    return 0


# --- namespaces and engines --------------------------------------------------------------


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"

    def create(self) -> None:
        run(["ip", "netns", "add", self.name])
        run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        # no dummy driver in every kernel: the stand-in host address sits on lo
        run(["ip", "-n", self.name, "addr", "add", f"{HOST_ADDR}/32", "dev", "lo"])

    def enter(self, cmd: list[str]) -> list[str]:
        # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mounts
        return ["nsenter", f"--net={self.path}", *cmd]

    def client(self, *args: str, timeout: float = 300) -> dict:
        out = run(self.enter([sys.executable, str(Path(__file__).resolve()), "--client",
                              *args]), timeout=timeout, what=f"client {args[0]}")
        return json.loads(out)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Engine:
    name = "?"

    def __init__(self, work: Path, ns: Namespace) -> None:
        self.work = work
        self.ns = ns
        self.sock = work / f"{self.name}.sock"
        self.proc: subprocess.Popen | None = None
        self.cgroup_parent = f"dybench-net-{os.getpid()}-{self.name}"
        self.env = dict(os.environ)

    def cli(self) -> list[str]:
        raise NotImplementedError

    def __call__(self, *args: str, timeout: float = 300) -> str:
        return run([*self.cli(), *args], env=self.env, timeout=timeout,
                   what=f"{self.name} {' '.join(args[:3])}")

    def wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            r = subprocess.run([*self.cli(), "version"], env=self.env, capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise Failed(f"{self.name} daemon did not come up: "
                     + log.read_text(errors="replace")[-2000:])

    def remove_all(self) -> None:
        with contextlib.suppress(Exception):
            ids = self("ps", "-aq", "--no-trunc", timeout=60).split()
            if ids:
                self("rm", "-f", *ids, timeout=120)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.remove_all()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        remove_cgroup(self.cgroup_parent)

    def address(self, cid: str) -> str:
        return self("inspect", "--format", "{{.NetworkSettings.IPAddress}}", cid).strip()


class Dockyard(Engine):
    name = "dockyard"

    def cli(self) -> list[str]:
        return [str(VENV / "dockyard"), "-H", f"unix://{self.sock}"]

    def start(self, rootfs_tar: Path) -> None:
        sys.path[:0] = [str(ROOT / "src")]
        from dockyard.image.bootstrap_image import bootstrap_busybox
        from dockyard.image.store import ImageStore

        data = self.work / "dy-data"
        store = ImageStore(str(data))
        try:
            bootstrap_busybox(store, IMAGE)
        finally:
            store.close()
        self.env["DOCKYARD_CGROUP_PARENT"] = self.cgroup_parent
        log = self.work / "dockyardd.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                self.ns.enter([str(VENV / "dockyardd"), "-H", f"unix://{self.sock}",
                               "--data-root", str(data), "--exec-root",
                               str(self.work / "dy-exec"), "--live-restore=false"]),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.wait_ready(log)

    def version(self) -> str:
        return "dockyard " + self("version", "--format", "{{.Server.Version}}").strip()


# dockerd makes these whatever its --exec-root; removed afterwards only if they were not there
DOCKERD_HOST_LEFTOVERS = [Path("/etc/docker/key.json"), Path("/run/docker")]


class Docker(Engine):
    name = "docker"

    def __init__(self, work: Path, ns: Namespace) -> None:
        super().__init__(work, ns)
        self.existed = {p: p.exists() for p in DOCKERD_HOST_LEFTOVERS}

    def cli(self) -> list[str]:
        return ["/usr/bin/docker", "-H", f"unix://{self.sock}"]

    def start(self, rootfs_tar: Path) -> None:
        log = self.work / "dockerd.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                self.ns.enter(["/usr/sbin/dockerd", "-H", f"unix://{self.sock}",
                               "--data-root", str(self.work / "dk-data"),
                               "--exec-root", str(self.work / "dk-exec"),
                               "--pidfile", str(self.work / "dockerd.pid"),
                               "--cgroup-parent", "/" + self.cgroup_parent]),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.wait_ready(log)
        self("import", str(rootfs_tar), IMAGE)

    def version(self) -> str:
        return "Docker " + self("version", "--format", "{{.Server.Version}}").strip()

    def stop(self) -> None:
        super().stop()
        # dockerd leaves its overlay and netns mounts under the data root behind
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(self.work) + "/"):
                subprocess.run(["umount", "-l", point], capture_output=True)
        for path, was in self.existed.items():
            if not was:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def remove_cgroup(parent: str, wait: float = 5.0) -> None:
    """rmdir, bottom up, of our cgroup parent in every hierarchy; only empty ones go."""
    deadline = time.monotonic() + wait
    while True:
        left = []
        for mnt in Path("/sys/fs/cgroup").iterdir():
            top = mnt / parent
            if not top.is_dir():
                continue
            for sub in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
            if top.exists():
                left.append(top)
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.1)


# --- the scenarios -----------------------------------------------------------------------


def serve_http(e: Engine, mb: int) -> str:
    script = (f"mkdir -p /www && head -c {mb * 1_000_000} /dev/zero > /www/big && "
              "exec httpd -f -p 80 -h /www")
    return e("run", "-d", "-p", f"{HTTP_PORT}:80", IMAGE, "sh", "-c", script).strip()


def serve_echo(e: Engine) -> str:
    return e("run", "-d", "-p", f"{ECHO_PORT}:7", IMAGE,
             "nc", "-ll", "-p", "7", "-e", "cat").strip()


def wait_file(e: Engine, cid: str, mb: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        size = e("exec", cid, "sh", "-c", "wc -c < /www/big 2>/dev/null || echo 0").strip()
        if size == str(mb * 1_000_000):
            return
        time.sleep(0.2)
    raise Failed(f"{e.name}: the file was not written in time")


_TIME = re.compile(r"real\s+(?:(\d+)m\s*)?([\d.]+)s")


def bridge_fetch(e: Engine, server_ip: str) -> dict[str, float]:
    script = (f"printf 'GET /big HTTP/1.0\\r\\n\\r\\n' > /tmp/req; "
              f"time nc {server_ip} 80 < /tmp/req | wc -c")
    r = subprocess.run([*e.cli(), "run", "--rm", IMAGE, "sh", "-c", script], env=e.env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise Failed(f"{e.name} bridge client: {r.stderr.strip()[-400:]}")
    m = _TIME.search(r.stderr)
    if not m:
        raise Failed(f"{e.name} bridge client: no time in {r.stderr!r}")
    seconds = int(m.group(1) or 0) * 60 + float(m.group(2))
    return {"bytes": int(r.stdout.split()[-1]), "seconds": seconds}


def measure(engines: list[Engine], args: argparse.Namespace) -> dict:
    results: dict = {e.name: {"dnat": [], "loopback": [], "bridge": [], "rtt": []}
                     for e in engines}
    servers = {}
    for e in engines:
        cid = serve_http(e, args.mb)
        wait_file(e, cid, args.mb)
        servers[e.name] = (cid, e.address(cid))
    for _ in range(args.runs):
        for e in engines:
            r = results[e.name]
            for key, host in (("dnat", HOST_ADDR), ("loopback", "127.0.0.1")):
                got = e.ns.client("http", host, str(HTTP_PORT), "/big")
                if got["bytes"] < args.mb * 1_000_000:
                    raise Failed(f"{e.name} {key}: short body {got['bytes']}")
                r[key].append(got["bytes"] / got["seconds"] / 1e6)
            got = bridge_fetch(e, servers[e.name][1])
            if got["bytes"] < args.mb * 1_000_000:
                raise Failed(f"{e.name} bridge: short body {got['bytes']}")
            r["bridge"].append(got["bytes"] / got["seconds"] / 1e6)
            echo = serve_echo(e)
            try:
                r["rtt"] += e.ns.client("echo", HOST_ADDR, str(ECHO_PORT),
                                        str(args.pings))["rtt_us"]
            finally:
                e("rm", "-f", echo)
    return results


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def report(results: dict, versions: dict[str, str], args: argparse.Namespace) -> str:
    dy, dk = results["dockyard"], results["docker"]
    med = statistics.median
    lines = [
        "## Networking: dockyardd vs Docker (bench/network.py)",
        "",
        f"{dt.date.today().isoformat()}, {platform.node()}, {os.cpu_count()} cores; "
        f"{versions['dockyard']} vs {versions['docker']} (Debian's docker.io, userland proxy "
        f"on as shipped), each daemon in a network namespace of its own; busybox httpd "
        f"serving {args.mb} MB, {args.runs} runs alternating; TCP echo {args.pings} round "
        "trips per run. MB/s are 10^6 bytes per second; medians.",
        "",
        "| path | dockyard | Docker | dockyard / Docker |",
        "|---|---|---|---|",
    ]
    for key, label in (("dnat", f"published port via the host's address ({HOST_ADDR})"),
                       ("loopback", "published port via 127.0.0.1"),
                       ("bridge", "container to container over the bridge")):
        a, b = med(dy[key]), med(dk[key])
        lines.append(f"| {label} | {a:.0f} MB/s | {b:.0f} MB/s | {a / b:.2f} |")
    a, b = med(dy["rtt"]), med(dk["rtt"])
    lines.append(f"| echo round trip via the published port, median | {a:.0f} µs | "
                 f"{b:.0f} µs | {a / b:.2f} |")
    a, b = p99(dy["rtt"]), p99(dk["rtt"])
    lines.append(f"| echo round trip, 99th percentile | {a:.0f} µs | {b:.0f} µs | "
                 f"{a / b:.2f} |")
    lines += ["", "Target (issue 5): at least Docker's throughput on every path "
              "(ratio ≥ 1.00 for MB/s, ≤ 1.00 for latency)."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "docs/benchmarks.md"
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
    if SECTION_START in body and SECTION_END in body:
        pattern = re.escape(SECTION_START) + ".*?" + re.escape(SECTION_END)
        body = re.sub(pattern, lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(body)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--client"]:
        return client_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pings", type=int, default=3000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/network.py needs root", file=sys.stderr)
        return 2
    if not Path("/usr/sbin/dockerd").exists():
        print("needs Debian's docker.io (apt-get install docker.io)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="dybench-net-"))
    tag = f"{os.getpid() % 100000}"
    namespaces = [Namespace(f"dybench-dy-{tag}"), Namespace(f"dybench-dk-{tag}")]
    engines: list[Engine] = []
    try:
        sys.path[:0] = [str(ROOT / "src")]
        from dockyard.image.bootstrap import build_busybox_rootfs

        rootfs = build_busybox_rootfs(work / "rootfs")
        tar = work / "busybox.tar"
        with tarfile.open(tar, "w") as t:
            t.add(rootfs, arcname=".")
        for ns in namespaces:
            ns.create()
        engines = [Dockyard(work, namespaces[0]), Docker(work, namespaces[1])]
        for e in engines:
            e.start(tar)
        versions = {e.name: e.version() for e in engines}
        text = report(measure(engines, args), versions, args)
        print(text)
        if not args.no_write:
            write_section(text)
        return 0
    except Failed as err:
        print(f"bench failed: {err}", file=sys.stderr)
        return 1
    finally:
        for e in engines:
            with contextlib.suppress(Exception):
                e.stop()
        for ns in namespaces:
            ns.delete()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

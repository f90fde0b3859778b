"""dockyardd beside a real dockerd (Debian's docker.io) on one host.

dockerd sets the policy of iptables' FORWARD chain (``table ip filter`` under iptables-nft)
to DROP; a drop there wins over any accept in dockyard's own table, so dockyard appends
accept rules for its bridges to that chain and must never touch Docker's rules. Proven with
real traffic in a private "host": a network namespace made by the test, where both daemons
run, linked by a veth pair to a second namespace standing for the outside world
(198.18.7.0/30, the benchmarking range). Nothing runs in or changes the real host's network.
Skipped when dockerd is not installed (scripts/setup.sh installs docker.io).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_api_support import start_daemon, stop_daemon

pytestmark = [pytest.mark.compat, pytest.mark.root]

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
DOCKER = shutil.which("docker")
HOST_ADDR, OUTSIDE_ADDR = "198.18.7.1", "198.18.7.2"
# what dockerd makes on the host whatever its --exec-root; removed only if it was not there
DOCKERD_LEFTOVERS = [Path("/etc/docker/key.json"), Path("/run/docker")]


def sh(*cmd: str, check: bool = True, ns: str | None = None) -> subprocess.CompletedProcess:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    r = subprocess.run(full, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(full)}: exit {r.returncode}: {r.stderr}")
    return r


def forward_chain(ns: str) -> dict:
    out = json.loads(sh("nft", "-j", "list", "chain", "ip", "filter", "FORWARD", ns=ns).stdout)
    chain = next(i["chain"] for i in out["nftables"] if "chain" in i)
    rules = [i["rule"] for i in out["nftables"] if "rule" in i]
    return {"policy": chain.get("policy"), "rules": rules}


def shape(rules: list[dict]) -> list[list[dict]]:
    """The rules' matches and verdicts, without their packet counters."""
    return [[e for e in r["expr"] if "counter" not in e] for r in rules]


def remove_cgroup(parent: str) -> None:
    for top in Path("/sys/fs/cgroup").glob(f"*/{parent}"):
        for sub in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir():
                with contextlib.suppress(OSError):
                    sub.rmdir()
        for _ in range(50):
            try:
                top.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    if not Path(DOCKERD).exists() or DOCKER is None:
        pytest.skip("dockerd (Debian's docker.io) or the docker CLI is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    token = secrets.token_hex(3)
    host, outside = f"dyx-h-{token}", f"dyx-o-{token}"
    existed = {p: p.exists() for p in DOCKERD_LEFTOVERS}
    made: list[str] = []
    try:
        for ns in (host, outside):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "down0",
           "netns", outside)
        sh("ip", "-n", host, "addr", "add", f"{HOST_ADDR}/30", "dev", "up0")
        sh("ip", "-n", outside, "addr", "add", f"{OUTSIDE_ADDR}/30", "dev", "down0")
        sh("ip", "-n", host, "link", "set", "up0", "up")
        sh("ip", "-n", outside, "link", "set", "down0", "up")
        sh("ip", "-n", outside, "route", "add", "default", "via", HOST_ADDR)
        # a fresh host: dockerd turns forwarding on and then sets FORWARD's policy to DROP
        sh("sysctl", "-qw", "net.ipv4.ip_forward=0", ns=host)
        yield {"host": host, "outside": outside, "token": token, "base": tmp_path}
    finally:
        for ns in reversed(made):
            sh("ip", "netns", "del", ns, check=False)
        for path, was in existed.items():
            if not was and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif not was:
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def dockerd(world: dict) -> Iterator[list[str]]:
    base: Path = world["base"] / "dk"
    base.mkdir()
    parent = f"dyx-dk-{world['token']}"
    sock = base / "d.sock"
    log = open(base / "dockerd.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{world['host']}", DOCKERD, "-H", f"unix://{sock}",
         "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
         "--pidfile", str(base / "d.pid"), "--cgroup-parent", f"/{parent}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    cli = [DOCKER, "-H", f"unix://{sock}"]
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([*cli, "version"], capture_output=True).returncode != 0:
            assert proc.poll() is None, (base / "dockerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dockerd did not come up"
            time.sleep(0.2)
        yield cli
    finally:
        ids = subprocess.run([*cli, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([*cli, "rm", "-f", *ids], capture_output=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(base) + "/"):
                subprocess.run(["umount", "-l", point], capture_output=True)
        remove_cgroup(parent)


@contextlib.contextmanager
def dockyardd(world: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from dockyard.image.bootstrap_image import bootstrap_busybox
    from dockyard.image.store import ImageStore

    base: Path = world["base"] / "dy"
    base.mkdir()
    store = ImageStore(base / "data")
    try:
        bootstrap_busybox(store)
    finally:
        store.close()
    token = world["token"]
    parent = f"dyx-dy-{token}"
    for key, value in {"DOCKYARD_CGROUP_PARENT": parent, "DOCKYARD_BRIDGE": f"dyx{token}",
                       "DOCKYARD_BRIDGE_SUBNET": "10.251.250.0/24",
                       "DOCKYARD_NAT_TABLE": f"dyx-{token}"}.items():
        monkeypatch.setenv(key, value)
    daemon = start_daemon(base, wrapper=("nsenter", f"--net=/run/netns/{world['host']}"))
    try:
        yield daemon
    finally:
        r = daemon.request("GET", "/v1.44/containers/json?all=1")
        for c in json.loads(r.body) if r.status == 200 else []:
            daemon.request("DELETE", f"/v1.44/containers/{c['Id']}?force=1")
        stop_daemon(daemon)
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(base) + "/"):
                subprocess.run(["umount", "-l", point], capture_output=True)
        remove_cgroup(parent)


def run_in(daemon, cmd: list[str]) -> tuple[int, bytes]:
    body = json.dumps({"Image": "busybox", "Cmd": cmd}).encode()
    r = daemon.request("POST", "/v1.44/containers/create", body,
                       {"Content-Type": "application/json"})
    assert r.status == 201, r.body
    cid = json.loads(r.body)["Id"]
    r = daemon.request("POST", f"/v1.44/containers/{cid}/start")
    assert r.status == 204, (r.body, daemon.log_text())
    code = json.loads(daemon.request("POST", f"/v1.44/containers/{cid}/wait").body)["StatusCode"]
    logs = daemon.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1").body
    daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1")
    return code, logs


def test_containers_of_both_engines_reach_out_and_docker_rules_stay(world, monkeypatch):
    from dockyard.image.bootstrap import build_busybox_rootfs

    rootfs = build_busybox_rootfs(world["base"] / "rootfs")
    tar = world["base"] / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        t.add(rootfs, arcname=".")
    ping = ["ping", "-c1", "-W3", OUTSIDE_ADDR]
    with dockerd(world) as docker:
        subprocess.run([*docker, "import", str(tar), "busybox:latest"], check=True,
                       capture_output=True)
        before = forward_chain(world["host"])
        assert before["policy"] == "drop", "dockerd sets FORWARD to DROP"
        with dockyardd(world, monkeypatch) as daemon:
            code, logs = run_in(daemon, ping)
            assert code == 0, logs
            chain = forward_chain(world["host"])
            mark = f"dockyard:dyx-{world['token']}"
            ours = [r for r in chain["rules"] if r.get("comment") == mark]
            assert ours, chain
            theirs = [r for r in chain["rules"] if r not in ours]
            assert shape(theirs) == shape(before["rules"]), "Docker's rules untouched"
            r = subprocess.run([*docker, "run", "--rm", "busybox", *ping], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        # dockyardd stopped (live restore): what it added stays while its bridge may carry
        # containers; Docker's own rules are still all there
        after = forward_chain(world["host"])
        assert shape([r for r in after["rules"]
                      if r.get("comment") != f"dockyard:dyx-{world['token']}"]) == \
            shape(before["rules"])

"""Helpers (no tests) for the container API tests: a hermetic dockyardd with busybox
seeded into its data root, its own cgroup parent, bridge, subnet and nftables table
(through the DOCKYARD_* test settings of engine/hooks.py); a finalizer that removes
every container, stops the daemon by its pid and checks that no shim, mount, cgroup,
veth, netns or nftables table is left."""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from engine_support import find_dirs as _find_dirs
from test_api_support import Daemon, UnixHTTPConnection, start_daemon, stop_daemon


def usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return "pyroute2 not installed"
    if not shutil.which("nft"):
        return "nft not installed"
    return None


def _free_subnet() -> str:
    from dockyard.network import bridge as br

    used = br.host_networks()
    for _ in range(200):
        net = ipaddress.IPv4Network(
            f"10.{200 + secrets.randbelow(51)}.{secrets.randbelow(256)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free test subnet")


def _free_pool_base() -> str:
    """A 10.x.0.0/16 the host does not use: the daemon's --default-address-pool base, so
    user-defined networks of parallel test daemons never collide."""
    from dockyard.network import bridge as br

    used = br.host_networks()
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{100 + secrets.randbelow(100)}.0.0/16")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free test address pool")


def _shim_pids(exec_root: Path) -> list[int]:
    pids = []
    for name in glob.glob(str(exec_root / "containers" / "*" / "shim.json")):
        with contextlib.suppress(OSError, ValueError), open(name) as f:
            pids.append(json.load(f)["shim_pid"])
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


def _mounts_under(base: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p.startswith(str(base) + "/")]


class DaemonHandle:
    """A Daemon plus what the tests need: request helpers and the names of its
    network resources."""

    def __init__(self, daemon: Daemon, token: str, bridge: str, subnet: str, table: str,
                 cgroup_parent: str) -> None:
        self.d = daemon
        self.token = token
        self.bridge = bridge
        self.subnet = subnet
        self.table = table
        self.cgroup_parent = cgroup_parent
        self.socket = daemon.socket
        self.url = daemon.url

    def request(self, *a, **kw):
        return self.d.request(*a, **kw)

    def restart(self) -> float:
        """SIGTERM the daemon (by pid), start it again on the same roots; returns how long
        the stop took."""
        t0 = time.monotonic()
        code = stop_daemon(self.d)
        took = time.monotonic() - t0
        assert code == 0, self.d.log_text()
        self.d = start_daemon(self.d.dir, "--dns", "127.0.0.1")
        return took

    def json(self, method: str, path: str, body=None, status: int | tuple = (200, 201)):
        data = json.dumps(body).encode() if body is not None else None
        r = self.d.request(method, path, data, {"Content-Type": "application/json"})
        ok = status if isinstance(status, tuple) else (status,)
        assert r.status in ok, (method, path, r.status, r.body, self.d.log_text())
        return r.json() if r.body.strip() else None

    def create(self, cmd: list[str], name: str | None = None, **config) -> str:
        body = {"Image": "busybox", "Cmd": cmd, **config}
        q = f"?name={name}" if name else ""
        return self.json("POST", f"/v1.44/containers/create{q}", body, 201)["Id"]

    def start(self, cid: str) -> None:
        r = self.d.request("POST", f"/v1.44/containers/{cid}/start")
        assert r.status == 204, (r.status, r.body)

    def wait(self, cid: str, condition: str = "not-running", timeout: float = 60) -> dict:
        r = self.d.request("POST", f"/v1.44/containers/{cid}/wait?condition={condition}",
                           timeout=timeout)
        assert r.status == 200, (r.status, r.body)
        return json.loads(r.body)

    def inspect(self, cid: str) -> dict:
        return self.json("GET", f"/v1.44/containers/{cid}/json", status=200)

    def hijack(self, path: str, body: bytes = b"", timeout: float = 30) -> tuple[bytes,
                                                                                socket.socket]:
        """POST with Upgrade: tcp; returns (header block, socket positioned after it)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(self.socket))
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
                     f"Upgrade: tcp\r\nContent-Type: text/plain\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                break
            head += chunk
        return head, sock


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def demux(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {1: b"", 2: b""}
    while len(data) >= 8:
        stream, size = data[0], int.from_bytes(data[4:8], "big")
        out[stream] = out.get(stream, b"") + data[8:8 + size]
        data = data[8 + size:]
    assert not data, f"trailing bytes {data!r}"
    return out


@contextlib.contextmanager
def container_daemon() -> Iterator[DaemonHandle]:
    from dockyard.image.bootstrap_image import bootstrap_busybox
    from dockyard.image.store import ImageStore

    token = secrets.token_hex(3)
    bridge, table, parent = f"dyc{token}", f"dyc-{token}", f"dyc-test-{token}"
    subnet = _free_subnet()
    base = Path(tempfile.mkdtemp(prefix="dyc-", dir="/tmp"))
    store = ImageStore(base / "data")
    try:
        bootstrap_busybox(store)
    finally:
        store.close()
    env = {"DOCKYARD_CGROUP_PARENT": parent, "DOCKYARD_BRIDGE": bridge,
           "DOCKYARD_BRIDGE_SUBNET": subnet, "DOCKYARD_NAT_TABLE": table,
           "DOCKYARD_DEFAULT_ADDRESS_POOL": f"base={_free_pool_base()},size=24"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    daemon = handle = None
    try:
        # --dns on loopback: names the embedded DNS does not know are forwarded there, never
        # to the host's resolvers (tests send traffic only to loopback and their own)
        daemon = start_daemon(base, "--dns", "127.0.0.1")
        handle = DaemonHandle(daemon, token, bridge, subnet, table, parent)
        yield handle
    finally:
        if handle is not None:
            daemon = handle.d
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        problems = []
        if daemon is not None:
            try:
                conn = UnixHTTPConnection(str(daemon.socket), 30)
                conn.request("GET", "/v1.44/containers/json?all=1")
                ids = [c["Id"] for c in json.loads(conn.getresponse().read())]
                conn.close()
                for cid in ids:
                    r = daemon.request("DELETE", f"/v1.44/containers/{cid}?force=1", timeout=60)
                    if r.status not in (204, 404):
                        problems.append(f"remove {cid[:12]}: {r.status} {r.body!r}")
                # networks a failed test left: removed through the API, so that what is
                # still found on the host below is a real leak of the daemon's
                r = daemon.request("GET", "/v1.44/networks")
                for net in json.loads(r.body) if r.status == 200 else []:
                    if net["Name"] not in ("bridge", "host", "none"):
                        daemon.request("DELETE", f"/v1.44/networks/{net['Id']}")
            except Exception as err:  # the daemon died: still clean up below
                problems.append(f"cleanup through the API failed: {err}")
            if stop_daemon(daemon) != 0:
                problems.append(f"dockyardd exit {daemon.process.returncode}:\n"
                                f"{daemon.log_text()}")
            shims = _shim_pids(daemon.exec_root)
            for pid in shims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if shims:
                problems.append(f"shims left: {shims}")
        mounts = _mounts_under(base)
        for point in reversed(mounts):
            subprocess.run(["umount", "-l", point], capture_output=True)
        netns_left = [p for p in mounts if "/netns/" in p]
        if [p for p in mounts if "/netns/" not in p]:
            problems.append(f"mounts left: {mounts}")
        if netns_left:
            problems.append(f"netns left: {netns_left}")
        veths = []
        with contextlib.suppress(Exception):
            from dockyard.network import bridge as br

            veths = br.bridge_ports(bridge)
            for name in veths:
                br.delete_link(name)
            br.delete_link(bridge)
        if veths:
            problems.append(f"veths left on {bridge}: {veths}")
        with contextlib.suppress(Exception):
            from dockyard.network import bridge as br

            ours = br.links_with_alias(f"dockyard:{table}")  # user-defined bridges, veths
            for name, _ in ours:
                br.delete_link(name)
            ours = [(n, k) for n, k in ours if n != bridge]
            if ours:
                problems.append(f"links left: {ours}")
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
        cgroups = []
        for found in _find_dirs("/sys/fs/cgroup", parent):
            cgroups += [c for c in glob.glob(found + "/*/") if os.path.isdir(c)]
            for _ in range(50):
                try:
                    os.rmdir(found)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        if cgroups:
            problems.append(f"cgroups left: {cgroups}")
        shutil.rmtree(base, ignore_errors=True)
        assert not problems, "\n".join(problems)

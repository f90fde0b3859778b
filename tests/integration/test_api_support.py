"""Helpers (no tests) for the dockyardd API tests: a hermetic daemon started as a
subprocess on a short socket path, stopped by its pid in a finalizer; raw HTTP over the
unix socket; a loopback registry seeded with busybox."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKYARDD = ROOT / ".venv/bin/dockyardd"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    def stream(self) -> list[dict]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class Daemon:
    dir: Path
    socket: Path
    data_root: Path
    exec_root: Path
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, chunked: bool = False,
                timeout: float = 120) -> Reply:
        conn = UnixHTTPConnection(str(self.socket), timeout)
        try:
            hdrs = dict(headers or {})
            if chunked and body is not None:
                def chunks(data=body):
                    for i in range(0, len(data), 65536):
                        yield data[i:i + 65536]
                conn.request(method, path, body=chunks(), headers=hdrs, encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, resp.headers, data)
        finally:
            conn.close()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


def start_daemon(base: Path, *extra: str, timeout: float = 10,
                 wrapper: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Daemon:
    """``wrapper``: a command that execs the daemon, e.g. ``nsenter --net=PATH``; ``env``:
    its environment (default: ours)."""
    sock = base / "d.sock"
    data = base / "data"
    run = base / "run"
    log = base / "dockyardd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*wrapper, str(DOCKYARDD), "-H", f"unix://{sock}", "--data-root",
                                 str(data), "--exec-root", str(run), "--log-level", "debug",
                                 *extra], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    daemon = Daemon(base, sock, data, run, proc, log)
    deadline = time.monotonic() + timeout
    # The socket file appears at bind(), a moment before listen(): wait until it
    # accepts a connection, not merely until it exists.
    while not _accepts(sock):
        if proc.poll() is not None:
            raise RuntimeError(f"dockyardd exited {proc.returncode}:\n{daemon.log_text()}")
        if time.monotonic() > deadline:
            stop_daemon(daemon)
            raise RuntimeError(f"dockyardd not ready in {timeout}s:\n{daemon.log_text()}")
        time.sleep(0.01)
    return daemon


def _accepts(path: Path) -> bool:
    if not path.is_socket():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def stop_daemon(daemon: Daemon) -> int | None:
    proc = daemon.process
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


@contextlib.contextmanager
def running_daemon(*extra: str) -> Iterator[Daemon]:
    """A daemon for the image and system tests. It makes the default bridge network at
    start, as dockerd makes docker0: under names of its own (bridge, nft table, cgroup
    parent), all removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="dyd-", dir="/tmp"))  # short: sun_path is 108 bytes
    token = secrets.token_hex(3)
    table = f"dyd-{token}"
    env = {**os.environ, "DOCKYARD_BRIDGE": f"dyd{token}", "DOCKYARD_NAT_TABLE": table,
           "DOCKYARD_CGROUP_PARENT": f"dyd-test-{token}"}
    daemon = None
    try:
        daemon = start_daemon(base, *extra, env=env)
        yield daemon
    finally:
        if daemon is not None:
            stop_daemon(daemon)
        _unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)
        _remove_network_leftovers(table)


def _remove_network_leftovers(table: str) -> None:
    """The links that carry the daemon's alias (``dockyard:<table>``) and its nft table."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(Exception):
        from dockyard.network import bridge as br

        for name, _kind in br.links_with_alias(f"dockyard:{table}"):
            br.delete_link(name)
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)


def _unmount_under(base: Path) -> None:
    with contextlib.suppress(OSError):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text()
                  .splitlines()]
        for mnt in sorted((m for m in mounts if m.startswith(str(base) + "/")), reverse=True):
            subprocess.run(["umount", "-l", mnt], capture_output=True)


def seed_registry(host: str, base: Path, refs: list[str]) -> None:
    """Bootstrap busybox in a separate store and push it as each of ``refs``."""
    from dockyard.distribution import RegistryClient
    from dockyard.image.bootstrap_image import bootstrap_busybox
    from dockyard.image.push import push
    from dockyard.image.store import ImageStore

    store = ImageStore(base / "seed-store")
    try:
        bootstrap_busybox(store, "busybox:latest")

        async def go() -> None:
            for ref in refs:
                store.tag("busybox:latest", ref)
                async with RegistryClient(host) as client:
                    await push(store, ref, client)

        asyncio.run(go())
    finally:
        store.close()

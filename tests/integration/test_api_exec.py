"""The exec endpoints over a unix socket: an aiohttp app with ``exec_routes`` and a
ContainerEngine, served from a thread with its own event loop; raw HTTP with the
hijack framing, and docker-py's ``exec_run``.

Each test has its own exec root, cgroup parent and socket; the finalizer removes the
containers and checks that no shim, exec helper, mount or cgroup is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import tempfile
import threading
import time

import pytest
from test_engine_exec import Env, cleanup_env

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from dockyard.image.bootstrap_image import bootstrap_busybox
    from dockyard.image.store import ImageStore

    root = tmp_path_factory.mktemp("api-exec-data")
    st = ImageStore(root)
    bootstrap_busybox(st)
    yield st
    st.close()


class Server:
    """The app and the engine on a loop in a thread; ``call`` runs a coroutine there."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.dir = tempfile.mkdtemp(prefix="dy-exec-")  # short: sun_path is 108 bytes
        self.socket = os.path.join(self.dir, "api.sock")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.engine = None
        self.runner = None
        self.call(self._start())

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        from aiohttp import web

        from dockyard.api.app import ApiContext, create_app
        from dockyard.api.exec import exec_routes
        from dockyard.api.util import json_response

        self.engine = self.env.engine()
        await self.engine.restore()

        async def container_json(request):  # what docker-py's containers.get needs
            return json_response(await self.engine.inspect(request.match_info["id"]))

        routes = [*exec_routes(self.engine), ("GET", "/containers/{id}/json", container_json)]
        app = create_app(ApiContext(config=None, store=self.env.store), routes)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.UnixSite(self.runner, self.socket).start()

    async def _stop(self) -> None:
        await self.runner.cleanup()
        for cid in self.engine.ids():
            try:
                await self.engine.remove(cid, force=True)
            except Exception:
                pass
        await self.engine.close()

    def close(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            os.rmdir(self.dir)

    async def _sleeper(self) -> str:
        cid = (await self.engine.create({"Image": "busybox", "Cmd": ["sleep", "1000"]}))["Id"]
        await self.engine.start(cid)
        return cid

    def sleeper(self) -> str:
        return self.call(self._sleeper())

    # --- raw HTTP ----------------------------------------------------------------------

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.socket)
        return sock

    def request(self, method: str, path: str, body=None) -> tuple[int, dict, bytes]:
        sock = self.connect()
        try:
            data = b"" if body is None else json.dumps(body).encode()
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: docker\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                         "Connection: close\r\n\r\n".encode() + data)
            raw = read_all(sock)
        finally:
            sock.close()
        status, headers, rest = parse_head(raw)
        return status, headers, rest

    def hijack(self, exec_id: str, start: dict, upgrade: bool = True,
               prefix: str = "") -> tuple[socket.socket, int, dict, bytes]:
        """Send exec start; returns the socket (positioned after the header block)."""
        sock = self.connect()
        data = json.dumps(start).encode()
        extra = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else ""
        sock.sendall(f"POST {prefix}/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     f"{extra}\r\n".encode() + data)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                break
            head += chunk
        status, headers, _ = parse_head(head)
        return sock, status, headers, b""


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def parse_head(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, rest


def demux(data: bytes) -> dict[int, bytes]:
    out = {1: b"", 2: b""}
    while data:
        stream, size = struct.unpack(">B3xI", data[:8])
        out[stream] = out.get(stream, b"") + data[8:8 + size]
        data = data[8 + size:]
    return out


@pytest.fixture
def server(store, tmp_path):
    env = Env(store, tmp_path)
    srv = Server(env)
    yield srv
    try:
        srv.close()
    finally:
        cleanup_env(env)


def create_exec(server: Server, cid: str, **config) -> str:
    config.setdefault("AttachStdout", True)
    config.setdefault("AttachStderr", True)
    status, headers, body = server.request("POST", f"/v1.44/containers/{cid}/exec", config)
    assert status == 201, body
    assert headers["content-type"] == "application/json"
    return json.loads(body)["Id"]


def inspect_exec(server: Server, exec_id: str) -> dict:
    status, _, body = server.request("GET", f"/exec/{exec_id}/json")
    assert status == 200, body
    return json.loads(body)


def test_exec_start_multiplexed(server):
    cid = server.sleeper()
    exec_id = create_exec(server, cid, Cmd=["sh", "-c", "echo out; echo err >&2; exit 3"])
    sock, status, headers, _ = server.hijack(exec_id, {"Detach": False, "Tty": False})
    try:
        assert status == 101
        assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert headers["upgrade"] == "tcp" and headers["connection"] == "Upgrade"
        assert "content-length" not in headers and "transfer-encoding" not in headers
        sock.shutdown(socket.SHUT_WR)  # the CLI's CloseWrite with no stdin
        out = demux(read_all(sock))
    finally:
        sock.close()
    assert out == {1: b"out\n", 2: b"err\n"}
    info = inspect_exec(server, exec_id)
    assert info["ExitCode"] == 3 and info["Running"] is False
    assert info["ProcessConfig"]["entrypoint"] == "sh"
    # A second start is refused with JSON, before any hijack.
    status, headers, body = server.request("POST", f"/exec/{exec_id}/start", {})
    assert status == 409 and "has already run" in json.loads(body)["message"]


def test_exec_stdin_half_close_and_plain_200(server):
    cid = server.sleeper()
    exec_id = create_exec(server, cid, Cmd=["cat"], AttachStdin=True)
    sock, status, headers, _ = server.hijack(exec_id, {"Tty": False}, upgrade=False,
                                             prefix="/v1.41")
    try:
        assert status == 200
        assert headers["content-type"] == "application/vnd.docker.raw-stream"
        sock.sendall(b"ping\n")
        sock.sendall(b"pong\n")
        sock.shutdown(socket.SHUT_WR)
        out = demux(read_all(sock))
    finally:
        sock.close()
    assert out[1] == b"ping\npong\n"
    assert inspect_exec(server, exec_id)["ExitCode"] == 0


def test_exec_tty_raw_and_resize(server):
    cid = server.sleeper()
    exec_id = create_exec(server, cid, Cmd=["sh", "-c", "tty; sleep 0.5; stty size"],
                          Tty=True)
    sock, status, headers, _ = server.hijack(exec_id, {"Tty": True, "ConsoleSize": [20, 60]})
    try:
        assert status == 101
        assert headers["content-type"] == "application/vnd.docker.raw-stream"
        status, _, body = server.request("POST", f"/exec/{exec_id}/resize?h=40&w=100")
        assert status == 200, body
        out = read_all(sock)
    finally:
        sock.close()
    lines = out.decode().split("\r\n")
    assert lines[0].startswith("/dev/pts/"), out
    assert lines[1] == "40 100"
    assert inspect_exec(server, exec_id)["ExitCode"] == 0


def test_exec_errors(server):
    status, headers, body = server.request("GET", "/exec/nope/json")
    assert status == 404 and json.loads(body) == {"message": "No such exec instance: nope"}
    assert headers["content-type"] == "application/json"
    status, _, body = server.request("POST", "/exec/nope/start", {})
    assert status == 404
    status, _, body = server.request("POST", "/exec/nope/resize?h=1&w=1")
    assert status == 404
    stopped = server.call(server.engine.create({"Image": "busybox", "Cmd": ["true"]}))["Id"]
    status, _, body = server.request("POST", f"/containers/{stopped}/exec", {"Cmd": ["true"]})
    assert status == 409
    assert json.loads(body)["message"] == f"Container {stopped} is not running" \
        or "is not running" in json.loads(body)["message"]
    status, _, body = server.request("POST", "/containers/nope/exec", {"Cmd": ["true"]})
    assert status == 404 and "No such container: nope" in json.loads(body)["message"]
    cid = server.sleeper()
    status, _, body = server.request("POST", f"/containers/{cid}/exec", {"Cmd": []})
    assert status == 400


def test_exec_detach_and_client_disconnect(server):
    cid = server.sleeper()
    exec_id = create_exec(server, cid, Cmd=["sh", "-c", "sleep 0.3; exit 7"])
    status, _, body = server.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert status == 200, body
    assert inspect_exec(server, exec_id)["Running"] is True
    # A client that goes away mid-stream: the daemon carries on and records the exit.
    noisy = create_exec(server, cid, Cmd=["sh", "-c", "seq 1 200000; exit 4"])
    sock, status, _, _ = server.hijack(noisy, {"Tty": False})
    assert status == 101
    sock.recv(100)
    sock.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if inspect_exec(server, exec_id)["ExitCode"] is not None \
                and inspect_exec(server, noisy)["ExitCode"] is not None:
            break
        time.sleep(0.05)
    assert inspect_exec(server, exec_id)["ExitCode"] == 7
    assert inspect_exec(server, noisy)["ExitCode"] == 4
    status, _, _ = server.request("GET", "/exec/nope/json")
    assert status == 404  # the daemon still answers


def test_docker_py_exec_run(server):
    docker = pytest.importorskip("docker")
    cid = server.sleeper()
    client = docker.DockerClient(base_url=f"unix://{server.socket}", version="1.44")
    try:
        container = client.containers.get(cid)
        assert container.exec_run("echo hi") == (0, b"hi\n")
        code, out = container.exec_run(["sh", "-c", "echo a; echo b >&2; exit 2"],
                                       demux=True)
        assert code == 2 and out == (b"a\n", b"b\n")
        code, out = container.exec_run("tty", tty=True)
        assert code == 0 and out.startswith(b"/dev/pts/")
    finally:
        client.close()


def test_exec_tty_detach_keys(server):
    cid = server.sleeper()
    status, _, body = server.request("POST", f"/containers/{cid}/exec",
                                     {"Cmd": ["cat"], "DetachKeys": "ctrl-"})
    assert status == 400, body
    exec_id = create_exec(server, cid, Cmd=["cat"], Tty=True, AttachStdin=True,
                          DetachKeys="ctrl-x,x")
    sock, status, _, _ = server.hijack(exec_id, {"Tty": True})
    try:
        assert status == 101
        sock.sendall(b"hello\n")
        echoed = b""
        while b"hello" not in echoed or echoed.count(b"hello") < 2:
            echoed += sock.recv(1024)  # the tty echo, then cat's copy
        sock.sendall(b"\x18x")
        rest = read_all(sock)  # the daemon ends the stream: detached
    finally:
        sock.close()
    assert b"\x18" not in rest
    info = inspect_exec(server, exec_id)
    assert info["Running"] is True and info["ExitCode"] is None
    assert info["DetachKeys"] == "ctrl-x,x"

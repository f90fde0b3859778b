"""A fake Engine API daemon on a unix socket in tmp, for the client and CLI tests.

Routes are ``(METHOD, regex on the unversioned path) -> handler(request) -> Reply``. Every
request is recorded (path with its ``/v1.44`` prefix, query, headers, de-chunked body).
A reply may be JSON, bytes, a list of chunks sent with chunked framing (flushed one by
one), or a hijack: ``101 UPGRADED`` and then raw bytes; the hijack can also read what the
client sends until it half-closes.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.unit


class Reply:
    def __init__(self, status: int = 200, json_body: Any = None, body: bytes | None = None,
                 chunks: list[bytes] | None = None, headers: dict[str, str] | None = None,
                 hijack: bytes | None = None, read_stdin: bool = False,
                 content_type: str | None = None) -> None:
        self.status = status
        self.json_body = json_body
        self.body = body
        self.chunks = chunks
        self.headers = headers or {}
        self.hijack = hijack
        self.read_stdin = read_stdin
        self.content_type = content_type


def error(status: int, message: str) -> Reply:
    return Reply(status, {"message": message})


class Request:
    def __init__(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.raw_path = raw_path
        split = urlsplit(raw_path)
        path = split.path
        m = re.match(r"^/v[0-9.]+(/.*)$", path)
        self.path = m.group(1) if m else path
        self.query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(
            split.query, keep_blank_values=True).items()}
        self.headers = headers
        self.body = body
        self.stdin = b""

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Request], Reply]


class FakeDaemon:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="fakedockyard")
        self.path = os.path.join(self.dir, "d.sock")
        self.host = f"unix://{self.path}"
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        daemon = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def handle_one(self) -> None:
                req = Request(self.command, self.path, dict(self.headers.items()), self._body())
                daemon.requests.append(req)
                reply = daemon.dispatch(req)
                if reply.hijack is not None:
                    self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\n"
                                     b"Content-Type: application/vnd.docker.raw-stream\r\n"
                                     b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                    self.wfile.write(reply.hijack)
                    self.wfile.flush()
                    if reply.read_stdin:
                        while True:
                            data = self.connection.recv(65536)
                            if not data:
                                break
                            req.stdin += data
                        # echo stdin back as a stdout frame after the half-close
                        frame = bytes([1, 0, 0, 0]) + len(req.stdin).to_bytes(4, "big")
                        self.wfile.write(frame + req.stdin)
                        self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                self.send_header("Api-Version", "1.44")
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.chunks is not None:
                    self.send_header("Content-Type", reply.content_type or "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in reply.chunks:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if reply.json_body is not None:
                    data = json.dumps(reply.json_body).encode()
                    ctype = reply.content_type or "application/json"
                else:
                    data = reply.body or b""
                    ctype = reply.content_type or "text/plain; charset=utf-8"
                if reply.status in (204, 304):
                    self.end_headers()
                    return
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = handle_one

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.path, H)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)

    def route(self, method: str, pattern: str, handler: Handler | Reply) -> None:
        fn = handler if callable(handler) else (lambda _req, r=handler: r)
        self.routes.insert(0, (method, re.compile(f"^{pattern}$"), fn))

    def dispatch(self, req: Request) -> Reply:
        for method, pattern, handler in self.routes:
            if method == req.method and pattern.match(req.path):
                return handler(req)
        return error(404, "page not found")

    def last(self, method: str | None = None, path: str | None = None) -> Request:
        for req in reversed(self.requests):
            if (method is None or req.method == method) and (path is None or req.path == path):
                return req
        raise AssertionError(f"no request {method} {path}: {[r.raw_path for r in self.requests]}")

    def start(self) -> FakeDaemon:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def lines(*messages: Any) -> list[bytes]:
    return [json.dumps(m).encode() + b"\r\n" for m in messages]


def run_cli(daemon: FakeDaemon, *argv: str, stdin: Any = "") -> tuple[int, str, str]:
    """``dockyard -H <daemon> *argv`` in process: (exit status, stdout, stderr). ``stdin`` is
    text for a StringIO, or a stream passed as it is."""
    from dockyard.cli.main import main  # lazily: the client tests import this module too

    out, err = io.StringIO(), io.StringIO()
    status = main(["-H", daemon.host, *argv], stdout=out, stderr=err,
                  stdin=io.StringIO(stdin) if isinstance(stdin, str) else stdin)
    return status, out.getvalue(), err.getvalue()


def test_fake_daemon_answers_404_json() -> None:
    d = FakeDaemon().start()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.path)
        s.sendall(b"GET /v1.44/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        assert data.startswith(b"HTTP/1.1 404")
        assert b'{"message": "page not found"}' in data
    finally:
        d.stop()

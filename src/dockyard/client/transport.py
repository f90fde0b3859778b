"""HTTP/1.1 to the Engine API on a plain socket: unix or tcp, JSON, streams, hijacking.

A small HTTP/1.1 client of its own rather than ``http.client``: importing that (with
``email`` and ``ssl``) costs about 35 ms, most of a CLI command's start-up, and the Engine
API needs little of it (one request per connection, chunked and sized bodies, 101 upgrades).

- Hosts: ``unix:///path`` (default ``unix:///run/dockyard/dockyard.sock``), ``tcp://h:p``,
  ``http://h:p``; chosen by ``-H``, then ``DOCKYARD_HOST``, then ``DOCKER_HOST``.
- Every path is sent under ``/v1.44``. Error bodies ``{"message": ...}`` become
  :class:`APIError`; a refused or missing socket becomes :class:`DaemonUnavailable`.
- Streams (pull, push, load, events, logs) are read as they arrive: JSON lines with
  :meth:`Transport.stream_json`, raw bytes with :meth:`Transport.stream_raw`.
- Attach and exec start upgrade the connection (``Upgrade: tcp`` → 101); the socket is then
  ours: :class:`Hijacked` reads the 8-byte multiplexed frames (no TTY) or raw bytes (TTY)
  and half-closes stdin with ``shutdown(SHUT_WR)``.
"""

from __future__ import annotations

# Start-up of every CLI command goes through here, so only modules that cost next to
# nothing are imported: ``_socket`` rather than ``socket`` (which imports enum, selectors
# and more; imported for tcp:// only), ``jsonio`` rather than ``json`` (which imports re),
# and percent-encoding of our own (``urllib.parse`` imports ``ipaddress``: 2 ms).
# typing and collections.abc are imported for type checkers only.
import _socket
import os

from . import jsonio
from .errors import APIError, DaemonUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

API_VERSION = "1.44"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
USER_AGENT = "dockyard-cli"
STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def default_host(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("DOCKYARD_HOST") or env.get("DOCKER_HOST") or DEFAULT_HOST


def parse_host(host: str) -> tuple[str, str, int]:
    """``("unix", path, 0)`` or ``("tcp", hostname, port)``; ValueError for anything else."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not path:
            raise ValueError(f"invalid host {host!r}: empty socket path")
        return "unix", path, 0
    if host.startswith("/"):
        return "unix", host, 0
    for scheme in ("tcp://", "http://"):
        if host.startswith(scheme):
            rest = host[len(scheme):].rstrip("/")
            name, sep, port = rest.rpartition(":")
            if not sep:
                name, port = rest, "2375"
            if not name:
                name = "127.0.0.1"
            try:
                return "tcp", name.strip("[]"), int(port)
            except ValueError:
                raise ValueError(f"invalid host {host!r}: bad port") from None
    raise ValueError(f"invalid host {host!r}: use unix:///path or tcp://host:port")


def query_string(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """Booleans as ``1``/``0``, None dropped, lists repeated (``names=a&names=b``)."""
    if not params:
        return ""
    items = params.items() if hasattr(params, "items") else params
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        elif isinstance(value, dict):
            pairs.append((key, jsonio.dumps(value, separators=(",", ":"))))
        else:
            pairs.append((key, str(value)))
    if not pairs:
        return ""
    return "?" + "&".join(f"{quote_plus(str(k))}={quote_plus(v)}" for k, v in pairs)


_ALWAYS_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "/") -> str:
    """``urllib.parse.quote(text, safe)``: UTF-8, ``%XX``; ``safe`` is ASCII."""
    ok = _ALWAYS_SAFE.union(safe)
    if all(c in ok for c in text):
        return text
    return "".join(c if c in ok else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def quote_plus(text: str, safe: str = "") -> str:
    """``urllib.parse.quote_plus``: what ``urlencode`` does to keys and values."""
    if " " in text:
        return quote(text, safe + " ").replace(" ", "+")
    return quote(text, safe)


def quote_name(name: str) -> str:
    """A name in a path: slashes stay (``/images/docker.io/library/x/push``)."""
    return quote(name, safe="/:@")


def error_message(status: int, body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", "replace")
    if content_type.split(";")[0].strip() == "application/json":
        try:
            data = jsonio.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return data["message"]
    text = text.strip()
    return text or f"{status} {REASONS.get(status, 'error')}"


class _Reader:
    """A socket with a read buffer: lines for the head, exact reads and what is left
    (the bytes that follow a 101 belong to the hijacked stream)."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = 65536) -> bytes:
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("header line too long")
            if not self._more():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read_some(self, n: int = 65536) -> bytes:
        if not self.buf and not self._more():
            return b""
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._more():
                raise ProtocolError("connection closed in the middle of a response")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class ProtocolError(OSError):
    """The daemon's reply is not HTTP/1.1 as expected."""


class Headers(dict[str, str]):
    """Response headers, looked up without regard to case."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 500: "Internal Server Error", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Unavailable"}


class Response:
    """A response whose body is still on the wire: read it whole, as chunks as they
    arrive (chunked framing decoded), or as JSON messages."""

    def __init__(self, sock: _socket.socket, reader: _Reader, status: int, headers: Headers,
                 has_body: bool) -> None:
        self.sock: _socket.socket | None = sock
        self.reader = reader
        self.status = status
        self.headers = headers
        self._chunked = has_body and "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = (0 if not has_body else
                                       None if self._chunked or length is None
                                       else int(length))
        self._done = False

    def _pieces(self, size: int = 65536) -> Iterator[bytes]:
        reader = self.reader
        if self._chunked:
            while True:
                line = reader.readline()
                if not line:
                    raise ProtocolError("connection closed in a chunked body")
                n = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if n == 0:
                    while reader.readline().strip():  # trailers
                        pass
                    return
                data = reader.read_exact(n)
                reader.read_exact(2)
                yield data
        elif self._remaining is not None:
            while self._remaining > 0:
                data = reader.read_some(min(size, self._remaining))
                if not data:
                    raise ProtocolError("connection closed before the end of the body")
                self._remaining -= len(data)
                yield data
        else:
            while data := reader.read_some(size):
                yield data

    def read(self) -> bytes:
        try:
            return b"".join(self._pieces())
        finally:
            self.close()

    def json(self) -> Any:
        data = self.read()
        return jsonio.loads(data) if data.strip() else None

    def iter_chunks(self, size: int = 65536) -> Iterator[bytes]:
        try:
            for piece in self._pieces(size):
                if piece:
                    yield piece
        finally:
            self.close()

    def iter_json(self) -> Iterator[Any]:
        """JSON messages, one per line (tolerates several per chunk and split lines)."""
        buf = b""
        for chunk in self.iter_chunks():
            buf += chunk
            while True:
                text = buf.lstrip()
                if not text:
                    buf = b""
                    break
                nl = text.find(b"\n")
                if nl < 0:
                    buf = text
                    break
                line, buf = text[:nl], text[nl + 1:]
                if line.strip():
                    yield jsonio.loads(line)
        if buf.strip():
            s = buf.decode()
            pos = 0
            while pos < len(s):
                obj, pos = jsonio.raw_decode(s, pos)
                yield obj
                while pos < len(s) and s[pos].isspace():
                    pos += 1

    def detach(self) -> tuple[_socket.socket, bytes]:
        """The socket and the bytes already read past the head (for a hijack)."""
        sock = self.sock
        assert sock is not None
        self.sock = None
        left = bytes(self.reader.buf)
        self.reader.buf.clear()
        return sock, left

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Transport:
    def __init__(self, host: str | None = None, version: str = API_VERSION,
                 timeout: float | None = None) -> None:
        self.host = host or default_host()
        self.kind, self.address, self.port = parse_host(self.host)
        self.version = version
        self.timeout = timeout

    # --- connections ---------------------------------------------------------------------

    def connect(self) -> _socket.socket:
        if self.kind == "unix":
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
            return sock
        import socket

        return socket.create_connection((self.address, self.port), timeout=self.timeout)

    def url(self, path: str, params: Any = None, versioned: bool = True) -> str:
        prefix = f"/v{self.version}" if versioned and self.version else ""
        return prefix + path + query_string(params)

    def open(self, method: str, path: str, params: Any = None, *, body: Any = None,
             headers: Mapping[str, str] | None = None, versioned: bool = True,
             check: bool = True) -> Response:
        """Send a request; the response body is left unread. JSON for dict/list bodies,
        chunked for iterables of bytes and files, as-is for bytes.

        One connection per request (``Connection: close``): the CLI makes few requests,
        and a stream or a hijack owns its connection anyway."""
        hdrs = {"Host": "docker", "User-Agent": USER_AGENT}
        data: bytes | None = None
        chunks: Iterable[bytes] | None = None
        if isinstance(body, dict | list):
            data = jsonio.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            data = body.encode()
        elif isinstance(body, bytes | bytearray):
            data = bytes(body)
        elif hasattr(body, "read"):
            chunks = iter(lambda: body.read(65536), b"")
        elif body is not None:
            chunks = body
        if data is not None:
            hdrs["Content-Length"] = str(len(data))
        elif chunks is not None:
            hdrs["Transfer-Encoding"] = "chunked"
        elif method in ("POST", "PUT"):
            hdrs["Content-Length"] = "0"
        if headers:
            hdrs.update(headers)
        if hdrs.get("Connection", "").lower() != "upgrade":
            hdrs["Connection"] = "close"
        head = f"{method} {self.url(path, params, versioned)} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        try:
            sock = self.connect()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError,
                _socket.gaierror, ConnectionError, TimeoutError) as exc:
            raise DaemonUnavailable(self.host, str(exc)) from None
        try:
            sock.sendall(head.encode("latin-1") + (data or b""))
            if chunks is not None:
                for chunk in chunks:
                    if chunk:
                        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            response = self._response(sock, method)
        except BaseException:
            sock.close()
            raise
        if check and response.status >= 400:
            body_bytes = response.read()
            raise APIError(response.status, error_message(
                response.status, body_bytes, response.headers.get("Content-Type", "")))
        return response

    def _response(self, sock: _socket.socket, method: str) -> Response:
        reader = _Reader(sock)
        while True:
            line = reader.readline()
            if not line:
                raise DaemonUnavailable(self.host, "connection closed without a response")
            parts = line.decode("latin-1").split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ProtocolError(f"malformed status line {line[:80]!r}")
            status = int(parts[1])
            headers = Headers()
            while True:
                raw = reader.readline()
                if raw in (b"\r\n", b"\n", b""):
                    break
                name, _, value = raw.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if status == 100:
                continue
            has_body = not (method == "HEAD" or status in (204, 304) or 100 <= status < 200)
            return Response(sock, reader, status, headers, has_body)

    def request(self, method: str, path: str, params: Any = None, **kw: Any) -> Any:
        """One request, JSON (or nothing) back."""
        return self.open(method, path, params, **kw).json()

    def get(self, path: str, params: Any = None, **kw: Any) -> Any:
        return self.request("GET", path, params, **kw)

    def post(self, path: str, params: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, params, **kw)

    def delete(self, path: str, params: Any = None, **kw: Any) -> Any:
        return self.request("DELETE", path, params, **kw)

    def stream_json(self, method: str, path: str, params: Any = None,
                    **kw: Any) -> Iterator[Any]:
        return self.open(method, path, params, **kw).iter_json()

    def stream_raw(self, method: str, path: str, params: Any = None,
                   **kw: Any) -> Iterator[bytes]:
        return self.open(method, path, params, **kw).iter_chunks()

    # --- hijacking -------------------------------------------------------------------------

    def hijack(self, path: str, params: Any = None, *, body: Any = None,
               tty: bool = False) -> Hijacked:
        """POST with ``Upgrade: tcp``; after 101 (or a 200 from an older daemon) the socket
        carries the container's stdio."""
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if body is None:
            hdrs["Content-Type"] = "text/plain"
        resp = self.open("POST", path, params, body=body, headers=hdrs)
        if resp.status not in (101, 200):
            resp.close()
            raise APIError(resp.status, f"unexpected status {resp.status} for an upgrade")
        sock, pending = resp.detach()
        return Hijacked(sock, tty=tty, buffered=pending)


class Hijacked:
    """An upgraded connection: stdin goes out raw; output comes framed (no TTY) or raw."""

    def __init__(self, sock: _socket.socket, *, tty: bool, buffered: bytes = b"") -> None:
        self.sock = sock
        self.tty = tty
        self._buf = bytearray(buffered)
        self._eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_stdin(self) -> None:
        """Half-close: the container sees EOF on stdin; its output keeps coming."""
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def _fill(self, need: int) -> bool:
        while len(self._buf) < need and not self._eof:
            chunk = self.sock.recv(65536)
            if not chunk:
                self._eof = True
                break
            self._buf += chunk
        return len(self._buf) >= need

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """``(stream, payload)`` pairs: stream 1 stdout, 2 stderr (raw output is stdout)."""
        if self.tty:
            while True:
                if not self._buf and not self._fill(1):
                    return
                yield STDOUT, self._take(len(self._buf))
        yield from demux(self._read_exact)

    def _read_exact(self, n: int) -> bytes:
        self._fill(n)
        return self._take(min(n, len(self._buf)))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Hijacked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def demux(read_exact: Any) -> Iterator[tuple[int, bytes]]:
    """Docker's stdcopy: 8-byte headers ``[stream, 0, 0, 0, size(be32)]`` then the payload."""
    while True:
        header = read_exact(8)
        if len(header) < 8:
            if header:
                raise APIError(500, "unexpected EOF in a stream frame header")
            return
        stream, size = header[0], int.from_bytes(header[4:8], "big")
        payload = read_exact(size) if size else b""
        if len(payload) < size:
            raise APIError(500, "unexpected EOF in a stream frame")
        if stream not in (STDIN, STDOUT, STDERR, SYSTEMERR):
            raise APIError(500, f"unrecognized stream in a frame: {stream}")
        yield stream, payload


def demux_chunks(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Frames out of a stream of arbitrary chunks (logs over plain HTTP)."""
    it = iter(chunks)
    buf = bytearray()

    def read_exact(n: int) -> bytes:
        while len(buf) < n:
            chunk = next(it, b"")
            if not chunk:
                break
            buf.extend(chunk)
        data = bytes(buf[:n])
        del buf[:n]
        return data

    yield from demux(read_exact)

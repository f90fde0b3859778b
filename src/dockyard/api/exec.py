"""The exec endpoints: create, start (hijacked), resize, inspect.

``exec_routes(engine)`` gives ``(method, path, handler)`` for ``create_app``'s
``extra_routes``; ``engine`` is a ContainerEngine (its ``execs`` does the work).

Start hijacks the connection (reference §4): every refusal is answered first as an
ordinary JSON error; then the daemon writes ``HTTP/1.1 101 UPGRADED`` (or ``200 OK``
when the client did not ask to upgrade) itself on aiohttp's transport, takes the
transport over (its protocol is swapped for :class:`Hijack`), starts the process only
once the client has read the header block (``util.header_read``: docker-py loses bytes
that share its read), and
relays: output framed (8-byte headers) unless the start body's ``Tty``, stdin with
half-close (the client's EOF closes the process's stdin, and output keeps flowing).
At the end of output: the exit code is recorded, then write EOF, then close. A client
that goes away mid-stream only detaches; the process runs on. With a TTY the detach keys
end the stream too (event ``exec_detach``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from ..engine.errors import EngineError
from ..engine.execs import DetachScanner, parse_console_size, parse_detach_keys
from .app import API_VERSION, SERVER_HEADER, at_least
from .errors import ApiError, BadParameter
from .util import header_read, int_value, json_response
from .validate import check_exec

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
HIGH_WATER = 1 << 20


def _api_error(err: EngineError) -> ApiError:
    return ApiError(err.message, err.status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise BadParameter(f"invalid JSON: {err}") from None
    if not isinstance(body, dict):
        raise BadParameter("the request body must be a JSON object")
    return body


class Hijack(asyncio.Protocol):
    """The connection after the upgrade: raw bytes both ways, with flow control."""

    def __init__(self, transport: asyncio.Transport, initial: bytes = b"") -> None:
        self.transport = transport
        self.buffer = bytearray(initial)
        self.eof = False
        self.lost = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        if initial:
            self._readable.set()

    @classmethod
    def take(cls, request: web.Request) -> Hijack:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        # Bytes that aiohttp buffered after the request (an upgraded connection's tail).
        old = request.protocol
        tail = b""
        with contextlib.suppress(AttributeError, TypeError):
            tail = bytes(old._message_tail)
            old._message_tail = b""
        proto = cls(transport, tail)
        transport.set_protocol(proto)
        with contextlib.suppress(AttributeError, RuntimeError):
            if not transport.is_reading():
                transport.resume_reading()
        return proto

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._readable.set()
        if len(self.buffer) > HIGH_WATER:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True  # a half-close, not a disconnect: keep writing
        self._readable.set()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        self._readable.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # for the handler
    async def read(self) -> bytes:
        """Bytes from the client; b"" at its EOF (half-close) or when it is gone."""
        while not self.buffer and not self.eof:
            self._readable.clear()
            await self._readable.wait()
        data = bytes(self.buffer)
        self.buffer.clear()
        if data and not self.lost:
            with contextlib.suppress(RuntimeError, AttributeError):
                if not self.transport.is_reading():
                    self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self.lost or self.transport.is_closing():
            raise ConnectionResetError("the client went away")
        self.transport.write(data)
        await self._writable.wait()
        if self.lost:
            raise ConnectionResetError("the client went away")

    def close_write(self) -> None:
        if not self.lost and not self.transport.is_closing():
            with contextlib.suppress(OSError, RuntimeError, NotImplementedError):
                if self.transport.can_write_eof():
                    self.transport.write_eof()

    def close(self) -> None:
        self.transport.close()


class _Hijacked(web.StreamResponse):
    """What the handler returns once it has answered on the raw transport itself:
    aiohttp must write nothing more, and close the connection."""

    def __init__(self) -> None:
        super().__init__(status=101)
        self.force_close()

    async def prepare(self, request: web.BaseRequest) -> None:  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def _frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def _header_block(request: web.Request, upgrade: bool, content_type: str) -> bytes:
    lines = ["HTTP/1.1 101 UPGRADED" if upgrade else "HTTP/1.1 200 OK",
             f"Content-Type: {content_type}"]
    if upgrade:
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    lines += [f"Api-Version: {API_VERSION}", "Docker-Experimental: false",
              "Ostype: linux", f"Server: {SERVER_HEADER}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exec_routes(engine: Any) -> list[tuple[str, str, Any]]:
    class _Execs:  # looked up per request: engine.execs is made on first use
        def __getattr__(self, name: str) -> Any:
            return getattr(engine.execs, name)

    execs = _Execs()

    async def create(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        try:
            check_exec(body)
        except ValueError as err:
            raise BadParameter(str(err)) from None
        try:
            exec_id = await execs.create(request.match_info["id"], body)
        except EngineError as err:
            raise _api_error(err) from None
        return json_response({"Id": exec_id}, 201)

    async def inspect(request: web.Request) -> web.StreamResponse:
        try:
            return json_response(execs.inspect(request.match_info["id"]))
        except EngineError as err:
            raise _api_error(err) from None

    async def resize(request: web.Request) -> web.StreamResponse:
        height = int_value(request, "h")
        width = int_value(request, "w")
        try:
            await execs.resize(request.match_info["id"], height, width)
        except EngineError as err:
            raise _api_error(err) from None
        return web.Response(status=200)

    async def start(request: web.Request) -> web.StreamResponse:
        exec_id = request.match_info["id"]
        body = await _body(request)
        detach = bool(body.get("Detach"))
        tty = bool(body.get("Tty"))
        try:
            console_size = parse_console_size(body.get("ConsoleSize"))
            rec = execs.check_start(exec_id)
        except EngineError as err:
            raise _api_error(err) from None
        if detach:
            try:
                await execs.start(exec_id, console_size=console_size, detach=True)
            except EngineError as err:
                raise _api_error(err) from None
            return web.Response(status=200)
        upgrade = ("upgrade" in request.headers.get("Connection", "").lower()
                   and bool(request.headers.get("Upgrade")))
        content_type = MULTIPLEXED if not tty and at_least(request, "1.42") else RAW
        hijack = Hijack.take(request)
        try:
            await hijack.write(_header_block(request, upgrade, content_type))
            await header_read(hijack.transport)
            await _relay(execs, exec_id, rec, hijack, tty, console_size)
        except (ConnectionError, OSError):
            pass  # the client went away: the exec runs on, its exit code is recorded
        finally:
            hijack.close()
        return _Hijacked()

    return [
        ("POST", "/containers/{id}/exec", create),
        ("POST", "/exec/{id}/start", start),
        ("POST", "/exec/{id}/resize", resize),
        ("GET", "/exec/{id}/json", inspect),
    ]


async def _relay(execs: Any, exec_id: str, rec: Any, hijack: Hijack, tty: bool,
                 console_size: tuple[int, int] | None) -> None:
    def encode(stream: int, data: bytes) -> bytes:
        return data if tty else _frame(stream, data)

    try:
        session = await execs.start(exec_id, console_size=console_size)
    except EngineError as err:
        await hijack.write(encode(1, f"{err.message}\r\n".encode()))
        hijack.close_write()
        return
    if session.error:
        # moby writes the start error on stdout, then the stream ends.
        await hijack.write(encode(1, f"{session.error}\r\n".encode()))
    cfg = rec.config
    # With a TTY the detach keys (default ctrl-p ctrl-q) end the stream; the process
    # runs on (moby's copyEscapable).
    scanner = DetachScanner(parse_detach_keys(cfg.detach_keys)) if cfg.tty else None
    detached = asyncio.Event()

    async def pump_input() -> None:
        while True:
            data = await hijack.read()
            if not data:
                if hijack.lost:
                    session.detach()
                    return
                session.close_stdin()
                return
            if scanner is not None:
                data, detach = scanner.feed(data)
                session.write_stdin(data)
                if detach:
                    session.detach()
                    detached.set()
                    execs.emit(rec, "exec_detach")
                    return
            else:
                session.write_stdin(data)

    async def next_output() -> tuple[int, bytes] | None:
        if not cfg.attach_stdin:
            return await session.read()
        reading = asyncio.ensure_future(session.read())
        detaching = asyncio.ensure_future(detached.wait())
        await asyncio.wait({reading, detaching}, return_when=asyncio.FIRST_COMPLETED)
        detaching.cancel()
        if reading.done():
            return reading.result()
        reading.cancel()
        return None

    inputs = asyncio.ensure_future(pump_input()) if cfg.attach_stdin else None
    try:
        while True:
            item = await next_output()
            if item is None:
                break
            stream, data = item
            if (stream == 1 and not cfg.attach_stdout) or (stream == 2 and not cfg.attach_stderr):
                continue
            await hijack.write(encode(stream, data))
        hijack.close_write()
    except (ConnectionError, OSError):
        session.detach()
        raise
    finally:
        if inputs is not None:
            inputs.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inputs

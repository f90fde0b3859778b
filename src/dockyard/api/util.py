"""Request parsing and response writing shared by the routers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, BinaryIO

from aiohttp import web

from .errors import ApiError, BadParameter

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def engine_errors(fn: Handler) -> Handler:
    """The engine's errors as Docker's JSON errors (304: an empty 304, as moby sends)."""
    from dockyard.engine.errors import EngineError

    @functools.wraps(fn)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except EngineError as err:
            if err.status == 304:
                return web.Response(status=304)
            raise ApiError(err.message, err.status) from None

    return wrapper

JSON = "application/json"
NEWLINE = b"\r\n"  # moby's streamformatter ends every message with CRLF


def dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def json_response(value: Any, status: int = 200) -> web.Response:
    # Content-Type exactly "application/json": the CLI compares it by string equality.
    return web.Response(body=dump(value) + b"\n", status=status, content_type=JSON)


def bool_value(request: web.Request, name: str, default: bool = False) -> bool:
    """moby's httputils.BoolValue: "", 0, no, false, none are false."""
    if name not in request.query:
        return default
    return request.query[name].strip().lower() not in ("", "0", "no", "false", "none")


def int_value(request: web.Request, name: str, default: int = 0) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"invalid value for {name}: {raw!r}") from None


def parse_filters(request: web.Request, allowed: frozenset[str] | None = None
                  ) -> dict[str, list[str]]:
    """``filters=`` as JSON: ``{"k":{"v":true}}`` (CLI) or ``{"k":["v"]}`` (docker-py)."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as err:
        raise BadParameter(f"invalid filter: {err}") from None
    if not isinstance(parsed, dict):
        raise BadParameter("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in parsed.items():
        if allowed is not None and key not in allowed:
            raise BadParameter(f"invalid filter '{key}'")
        if isinstance(value, dict):
            out[key] = [str(k) for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise BadParameter(f"invalid filter '{key}'")
    return out


def parse_timestamp(raw: str, *, now: float | None = None) -> float:
    """``since``/``until``: unix seconds (``1700000000.5``), RFC 3339, or a Go duration
    ago (``10m``), as the CLI's timetypes.GetTimestamp accepts them."""
    raw = raw.strip()
    now = time.time() if now is None else now
    try:
        return float(raw)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if raw.endswith(unit):
            try:
                return now - float(raw[: -len(unit)]) * units[unit]
            except ValueError:
                break
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(f"invalid timestamp {raw!r}") from None
    return stamp.timestamp()


def registry_auth(header: str | None) -> dict[str, str]:
    """``X-Registry-Auth``: base64url (padded or not, std accepted too) JSON AuthConfig."""
    if not header:
        return {}
    text = header.strip()
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            value = json.loads(decode(padded))
        except (ValueError, TypeError):
            continue
        if isinstance(value, dict):
            return {str(k).lower(): str(v) for k, v in value.items() if v is not None}
    return {}  # moby ignores an undecodable header and pulls anonymously


class JsonStream:
    """A chunked ``application/json`` response: one message per write, flushed each."""

    def __init__(self, request: web.Request, content_type: str = JSON) -> None:
        self.request = request
        self.response = web.StreamResponse(status=200)
        self.response.content_type = content_type
        self.response.enable_chunked_encoding()
        self.started = False

    async def start(self) -> None:
        if not self.started:
            self.started = True
            await self.response.prepare(self.request)

    async def send(self, message: Any) -> None:
        await self.start()
        await self.response.write(dump(message) + NEWLINE)

    async def error(self, message: str) -> None:
        await self.send({"errorDetail": {"message": message}, "error": message})

    async def finish(self) -> web.StreamResponse:
        await self.start()
        await self.response.write_eof()
        return self.response


class ThreadSink:
    """A file a worker thread writes to while the loop sends the bytes on (bounded)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, depth: int = 8) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(depth)
        self.closed = False

    def write(self, data: bytes) -> int:
        if self.closed:
            raise BrokenPipeError("client went away")
        if data:
            asyncio.run_coroutine_threadsafe(self.queue.put(bytes(data)), self.loop).result()
        return len(data)

    def flush(self) -> None:
        pass

    def done(self) -> None:
        asyncio.run_coroutine_threadsafe(self.queue.put(None), self.loop).result()


async def stream_from_thread(request: web.Request, response: web.StreamResponse,
                             produce: Callable[[BinaryIO], object]) -> None:
    """Send as a chunked body what ``produce(file)`` writes in a worker thread (a tar of
    an image or of a container path). An error after the first byte cannot become an
    HTTP error any more: it is raised, and the client sees a cut stream. The caller
    writes the EOF."""
    sink = ThreadSink(asyncio.get_running_loop())

    def work() -> None:
        try:
            produce(sink)  # type: ignore[arg-type]
        finally:
            if not sink.closed:
                sink.done()

    response.enable_chunked_encoding()
    await response.prepare(request)
    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        while (chunk := await sink.queue.get()) is not None:
            await response.write(chunk)
    finally:
        sink.closed = True
        while not task.done():  # unblock a writer waiting on a full queue
            with contextlib.suppress(asyncio.QueueEmpty):
                sink.queue.get_nowait()
            await asyncio.sleep(0.01)
    if task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def spool_body(request: web.Request, into: BinaryIO) -> int:
    """Copy the (possibly chunked) request body into a file, in a thread per chunk."""
    total = 0
    while chunk := await request.content.read(1 << 20):
        await asyncio.to_thread(into.write, chunk)
        total += len(chunk)
    await asyncio.to_thread(into.flush)
    return total


def threadsafe_callback(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue
                        ) -> Callable[[Any], None]:
    """A callback that puts its argument on ``queue`` from the loop or any thread."""

    def put(item: Any) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(item)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, item)

    return put


HEADER_READ_FALLBACK = 0.05  # seconds, where the socket cannot say (TCP)
HEADER_READ_LIMIT = 2.0


def _unread(sock: Any) -> int | None:
    """Bytes we sent on a Unix stream socket that the peer has not read yet (SIOCOUTQ);
    None where the kernel cannot tell (TCP counts unacknowledged bytes instead)."""
    import array
    import fcntl
    import socket
    import termios

    if sock is None or getattr(sock, "family", None) != socket.AF_UNIX:
        return None
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
    except OSError:
        return None
    return buf[0]


async def header_read(transport: Any) -> None:
    """Wait until the client has read the response header block of a hijacked stream.
    docker-py reads that block through a buffered file and then reads the raw socket:
    payload bytes that reach it in the same read as the header are lost. On a Unix
    socket the kernel says when the peer has read everything we sent."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    deadline = time.monotonic() + HEADER_READ_LIMIT
    delay = 0.0005
    while time.monotonic() < deadline and not transport.is_closing():
        pending = transport.get_write_buffer_size()
        unread = _unread(sock)
        if unread is None:
            await asyncio.sleep(HEADER_READ_FALLBACK)
            return
        if pending == 0 and unread == 0:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)

"""Container endpoints of the Engine API (v1.44): thin handlers over the engine.

``routes(hooks)`` gives ``(method, path, handler)`` for the app; ``hooks`` is the
engine's :class:`~dockyard.engine.hooks.DaemonEngine` (``hooks.engine``, the
``ContainerEngine``; ``hooks.network``, the NetworkManager). Engine errors carry
``.status``/``.message`` and become Docker's JSON errors here (304 without a body).

Hijacked attach: aiohttp's protocol is swapped for a small one on the same transport
(``_Hijack``) so that a half-close from the client (the CLI's ``CloseWrite``) ends only
the container's stdin, and the daemon writes the ``101 UPGRADED`` header itself through
a prepared response. Output comes from the shim's attach socket when the container
runs; for a container that is not running yet (``docker run`` attaches before it
starts) the handler waits for the start and then follows the json-file log from the
moment of the attach, so that no early output is lost. Nothing is written before the
client has read the header block (``util.header_read``). With a TTY and stdin, the
detach keys (``detachKeys``, default ctrl-p,ctrl-q) end the stream, the container runs
on; events ``attach`` and ``detach`` as moby's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .app import at_least
from .errors import ApiError, BadParameter, NotImplementedYet
from .util import (
    JSON,
    bool_value,
    dump,
    engine_errors,
    header_read,
    int_value,
    json_response,
    parse_filters,
    parse_timestamp,
)

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


PIECE = 256 << 10


async def _discard(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while await loop.sock_recv(sock, PIECE):
            pass


def _pieces(stream: str, data: bytes, tty: bool) -> list[Any]:
    """Bulk output as frames (raw with a TTY) in pieces of PIECE bytes, as views: no
    copy, and each write small enough to go out at once rather than be buffered."""
    view = memoryview(data)
    out: list[Any] = []
    for at in range(0, len(data), PIECE):
        piece = view[at:at + PIECE]
        if not tty:
            out.append(bytes([1 if stream == "stdout" else 2, 0, 0, 0])
                       + len(piece).to_bytes(4, "big"))
        out.append(piece)
    return out




async def _json_body(request: web.Request, required: bool = True) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise BadParameter("invalid JSON: request body is empty")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise BadParameter(f"invalid JSON: {err}") from None
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise BadParameter("invalid JSON: expected an object")
    return body


def _opt_int(request: web.Request, name: str) -> int | None:
    if request.query.get(name, "") == "":
        return None
    return int_value(request, name)


def _client_gone(request: web.Request) -> bool:
    """The client went away, or the daemon is shutting down (aiohttp's shutdown sets
    ``_force_close`` on every connection and then waits for its handler)."""
    transport = request.transport
    return transport is None or transport.is_closing() or \
        bool(getattr(request.protocol, "_force_close", False))


async def _guarded(request: web.Request, coro: Awaitable[None],
                   inp: _Input | None = None) -> None:
    """Run a long-lived copy loop; cancel it once the client is gone or the daemon
    stops (a follow that gets no output would otherwise never notice)."""
    task = asyncio.ensure_future(coro)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.25)
            if not task.done() and (_client_gone(request) or (inp is not None and inp.lost)):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                return
        task.result()
    except asyncio.CancelledError:
        task.cancel()
        raise


class _Input:
    """What the client sends on a hijacked connection: a queue of bytes, None at EOF."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.eof = False
        self.lost = False
        self.detached = asyncio.Event()  # the client typed the detach keys

    def feed(self, data: bytes) -> None:
        if data and not self.eof:
            self.queue.put_nowait(bytes(data))

    def feed_eof(self) -> None:
        if not self.eof:
            self.eof = True
            self.queue.put_nowait(None)


class _Hijack(asyncio.Protocol):
    """Takes the transport over from aiohttp's request handler after the upgrade."""

    def __init__(self, original: Any, inp: _Input) -> None:
        self.original = original
        self.inp = inp

    def data_received(self, data: bytes) -> None:
        self.inp.feed(data)

    def eof_received(self) -> bool:
        self.inp.feed_eof()  # a half-close ends stdin, not the stream
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.inp.lost = True
        self.inp.feed_eof()
        with contextlib.suppress(Exception):
            self.original.connection_lost(exc)

    def pause_writing(self) -> None:
        self.original.pause_writing()

    def resume_writing(self) -> None:
        self.original.resume_writing()


class Routes:
    def __init__(self, hooks: Any) -> None:
        self.hooks = hooks

    @property
    def engine(self) -> Any:
        return self.hooks.engine

    def _live(self, ref: str) -> Any:
        return self.engine._get(ref)

    # --- create, lifecycle -------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        from .validate import check_create

        body = await _json_body(request)
        try:
            check_create(body)
        except ValueError as err:
            raise BadParameter(str(err)) from None
        name = request.query.get("name") or None
        hc = body.get("HostConfig") or {}
        mode = hc.get("NetworkMode") or "default"
        # User-defined networks, NetworkingConfig, PortBindings, PublishAllPorts, Links
        # and ExposedPorts go to the engine unchanged: the network manager checks them.
        if mode.startswith("container:"):
            self._live(mode.partition(":")[2])
        log_config = hc.get("LogConfig") or {}
        if not log_config.get("Type"):
            # The CLI sends {"Type": ""}: the daemon's default driver and options apply.
            daemon_cfg = self.hooks.config
            hc["LogConfig"] = {
                "Type": getattr(daemon_cfg, "log_driver", "") or "json-file",
                "Config": log_config.get("Config")
                or dict(getattr(daemon_cfg, "log_opts", {}) or {})}
        result = await self.engine.create(body, hc, name)
        return json_response(result, 201)

    async def start(self, request: web.Request) -> web.StreamResponse:
        await self.engine.start(request.match_info["id"])
        return web.Response(status=204)

    async def stop(self, request: web.Request) -> web.StreamResponse:
        await self.engine.stop(request.match_info["id"], _opt_int(request, "t"),
                               request.query.get("signal") or None)
        return web.Response(status=204)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        await self.engine.restart(request.match_info["id"], _opt_int(request, "t"),
                                  request.query.get("signal") or None)
        return web.Response(status=204)

    async def kill(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        live = self._live(ref)
        if live.state.value not in ("running", "paused", "restarting"):
            raise ApiError(f"Cannot kill container: {ref}: container {live.id} is not "
                           "running", 409)
        try:
            await self.engine.kill(ref, request.query.get("signal") or None)
        except ValueError as err:
            raise BadParameter(str(err)) from None
        return web.Response(status=204)

    async def pause(self, request: web.Request) -> web.StreamResponse:
        await self.engine.pause(request.match_info["id"])
        return web.Response(status=204)

    async def unpause(self, request: web.Request) -> web.StreamResponse:
        await self.engine.unpause(request.match_info["id"])
        return web.Response(status=204)

    async def wait(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        condition = request.query.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise BadParameter(f'invalid condition: "{condition}"')
        self._live(ref)
        task = asyncio.ensure_future(self.engine.wait(ref, condition))
        # Headers go out before blocking: `docker run` waits for them before it starts.
        resp = web.StreamResponse(status=200)
        resp.content_type = JSON
        try:
            await resp.prepare(request)
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if _client_gone(request):
                    task.cancel()
                    return resp
            try:
                result = task.result()
            except Exception as err:  # after the 200: the error goes in the body
                message = getattr(err, "message", None) or str(err)
                result = {"StatusCode": -1, "Error": {"Message": message}}
            await resp.write(dump(result) + b"\n")
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            task.cancel()
            raise
        return resp

    async def remove(self, request: web.Request) -> web.StreamResponse:
        await self.engine.remove(request.match_info["id"], force=bool_value(request, "force"),
                                 volumes=bool_value(request, "v"),
                                 link=bool_value(request, "link"))
        return web.Response(status=204)

    async def rename(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("name", "")
        if not name:
            raise BadParameter("Neither old nor new names may be empty")
        await self.engine.rename(request.match_info["id"], name)
        return web.Response(status=204)

    async def update(self, request: web.Request) -> web.StreamResponse:
        from .validate import check_update

        body = await _json_body(request)
        try:
            check_update(body)
        except ValueError as err:
            raise BadParameter(str(err)) from None
        # docker-py and the CLI send every resource field, most of them zero: unset.
        changes = {k: v for k, v in body.items() if v not in (None, 0, "", [], {})}
        result = await self.engine.update(request.match_info["id"], changes)
        return json_response(result)

    # --- inspect, list -----------------------------------------------------------

    def _network_summary(self, summary: dict[str, Any]) -> tuple[dict[str, Any], list]:
        """(NetworkSettings.Networks, Ports) of a list entry, as moby's container view
        builds them from the container's NetworkSettings."""
        settings = self.hooks.network_settings({
            "Id": summary["Id"], "HostConfig": summary.get("HostConfig") or {},
            "NetworkSettings": {}})
        networks = {}
        for name, ep in (settings.get("Networks") or {}).items():
            ipam = ep.get("IPAMConfig")
            networks[name] = {
                "IPAMConfig": {k: ipam[k] for k in ("IPv4Address", "IPv6Address")
                               if ipam.get(k)} if ipam else None,
                "Links": None, "Aliases": None, "MacAddress": ep.get("MacAddress", ""),
                "DriverOpts": None, "GwPriority": ep.get("GwPriority", 0),
                **{k: ep.get(k, d) for k, d in (
                    ("NetworkID", ""), ("EndpointID", ""), ("Gateway", ""),
                    ("IPAddress", ""), ("IPPrefixLen", 0), ("IPv6Gateway", ""),
                    ("GlobalIPv6Address", ""), ("GlobalIPv6PrefixLen", 0))},
                "DNSNames": None}
        ports = []
        for key, bindings in (settings.get("Ports") or {}).items():
            number, _, proto = key.partition("/")
            if not number.isdigit():
                continue
            if not bindings:
                ports.append({"PrivatePort": int(number), "Type": proto or "tcp"})
                continue
            for b in bindings:
                host = str(b.get("HostPort") or "")
                if not host.isdigit():
                    continue
                ports.append({"IP": b.get("HostIp") or "", "PrivatePort": int(number),
                              "PublicPort": int(host), "Type": proto or "tcp"})
        return networks, ports

    def _sizes(self, cid: str) -> tuple[int, int]:
        try:
            return self.engine.sizes(cid)
        except Exception:  # removed meanwhile
            return 0, 0

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        size = bool_value(request, "size")
        info = await self.engine.inspect(request.match_info["id"], size=size)
        info["NetworkSettings"] = self.hooks.network_settings(info)
        if info.get("ExecIDs") is None:
            ids = getattr(self.engine, "exec_ids", None)
            if callable(ids):
                with contextlib.suppress(Exception):
                    info["ExecIDs"] = ids(info["Id"]) or None
        if size:
            info.setdefault("SizeRw", 0)
            info.setdefault("SizeRootFs", 0)
        return json_response(info)

    async def list(self, request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request)
        limit = int_value(request, "limit", -1)
        out = await self.engine.list(all=bool_value(request, "all"), filters=filters,
                                     limit=limit if limit > 0 else -1)
        wanted_nets = filters.get("network") or []
        result = []
        # the network manager's lock can be held over netlink/nft work: not on the loop
        summaries = await asyncio.to_thread(lambda: [self._network_summary(s) for s in out])
        if bool_value(request, "size"):
            sizes = await asyncio.to_thread(lambda: [self._sizes(s["Id"]) for s in out])
            for summary, (size_rw, size_root) in zip(out, sizes, strict=True):
                summary["SizeRw"], summary["SizeRootFs"] = size_rw, size_root
        for summary, (networks, ports) in zip(out, summaries, strict=True):
            if wanted_nets and not any(
                    n == name or (ep["NetworkID"] and ep["NetworkID"].startswith(n))
                    for n in wanted_nets for name, ep in networks.items()):
                continue
            summary["NetworkSettings"] = {"Networks": networks}
            summary["Ports"] = ports
            if bool_value(request, "size"):
                summary.setdefault("SizeRw", 0)
                summary.setdefault("SizeRootFs", 0)
            result.append(summary)
        return json_response(result)

    # --- logs --------------------------------------------------------------------

    async def logs(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        live = self._live(ref)
        stdout, stderr = bool_value(request, "stdout"), bool_value(request, "stderr")
        if not stdout and not stderr:
            raise BadParameter("Bad parameters: you must choose at least one stream")
        driver = (live.rec["HostConfig"].get("LogConfig") or {}).get("Type") or "json-file"
        if driver not in ("json-file", "local"):
            raise NotImplementedYet("configured logging driver does not support reading")
        tty = bool(live.rec["Config"].get("Tty"))
        since = parse_timestamp(request.query["since"]) if request.query.get("since") \
            else 0.0
        until = parse_timestamp(request.query["until"]) if request.query.get("until") \
            else 0.0
        tail = request.query.get("tail", "all") or "all"
        if tail != "all":
            try:
                tail = str(max(int(tail), -1)) if int(tail) >= 0 else "all"
            except ValueError:
                tail = "all"
        entries = self.engine.logs(ref, stdout=stdout, stderr=stderr,
                                   follow=bool_value(request, "follow"), since=since,
                                   until=until, timestamps=bool_value(request, "timestamps"),
                                   tail=tail)
        resp = web.StreamResponse(status=200)
        resp.content_type = RAW if tty or not at_least(request, "1.42") else MUX
        resp.enable_chunked_encoding()
        async def copy() -> None:
            async for entry in entries:
                for piece in _pieces(entry.stream, entry.data, tty):
                    await resp.write(piece)
            await resp.write_eof()

        try:
            await resp.prepare(request)
            await _guarded(request, copy())
        except ConnectionError:
            pass
        finally:
            await entries.aclose()
        return resp

    # --- attach ------------------------------------------------------------------

    async def attach(self, request: web.Request) -> web.StreamResponse:
        from dockyard.engine.errors import InvalidParameter
        from dockyard.engine.execs import DetachScanner, parse_detach_keys

        ref = request.match_info["id"]
        keys_text = request.query.get("detachKeys", "")
        try:
            keys = parse_detach_keys(keys_text)
        except InvalidParameter:
            raise BadParameter(f"Invalid detach keys ({keys_text}) provided") from None
        live = self._live(ref)
        if live.state.value == "paused":
            raise ApiError("You cannot attach to a paused container, unpause it first", 409)
        want_in = bool_value(request, "stdin")
        want_out = bool_value(request, "stdout")
        want_err = bool_value(request, "stderr")
        logs, stream = bool_value(request, "logs"), bool_value(request, "stream")
        tty = bool(live.rec["Config"].get("Tty"))
        started_before = time.time()
        upgrade = "upgrade" in request.headers.get("Connection", "").lower() or \
            bool(request.headers.get("Upgrade"))
        resp = web.StreamResponse(status=101 if upgrade else 200,
                                  reason="UPGRADED" if upgrade else "OK")
        resp.headers["Content-Type"] = RAW if tty or not at_least(request, "1.42") else MUX
        if upgrade:
            resp.headers["Connection"] = "Upgrade"
            resp.headers["Upgrade"] = "tcp"
        resp._length_check = False  # no chunking, no length: a raw stream follows
        resp.force_close()
        await resp.prepare(request)
        inp = _Input()
        transport = request.transport
        proto = request.protocol
        if transport is None:
            return resp
        tail = getattr(proto, "_message_tail", b"")
        if tail:
            inp.feed(tail)
            with contextlib.suppress(AttributeError):
                proto._message_tail = b""
        transport.set_protocol(_Hijack(proto, inp))
        with contextlib.suppress(Exception):
            transport.resume_reading()
        # As moby: the detach keys apply to a TTY's stdin only (copyEscapable).
        scanner = DetachScanner(keys) if tty and want_in else None
        self.engine._emit(live, "attach")
        try:
            await header_read(transport)
            await _guarded(request, self._relay(resp, live, inp, want_in, want_out,
                                                want_err, logs, stream, tty,
                                                started_before, scanner), inp)
            if inp.detached.is_set():
                self.engine._emit(live, "detach")
        except (ConnectionError, OSError):
            pass
        except Exception:  # the daemon never dies from a request
            import logging

            logging.getLogger("dockyard.api").exception("attach %s", ref)
        finally:
            with contextlib.suppress(Exception):
                if transport.can_write_eof() and not transport.is_closing():
                    transport.write_eof()
            transport.close()
        return resp

    async def _write(self, resp: web.StreamResponse, inp: _Input, data: bytes) -> None:
        if inp.lost:
            raise ConnectionResetError("client gone")
        await resp.write(data)

    async def _replay(self, resp: web.StreamResponse, inp: _Input, live: Any, out: bool,
                      err: bool, tty: bool, follow: bool, since: float) -> None:
        if not out and not err:
            return
        driver = (live.rec["HostConfig"].get("LogConfig") or {}).get("Type") or "json-file"
        if driver not in ("json-file", "local"):
            return
        entries = self.engine.logs(live.id, stdout=out, stderr=err, follow=follow,
                                   since=since)
        try:
            async for entry in entries:
                data = entry.data if tty else _frame(
                    1 if entry.stream == "stdout" else 2, entry.data)
                await self._write(resp, inp, data)
        finally:
            await entries.aclose()

    async def _relay(self, resp: web.StreamResponse, live: Any, inp: _Input, want_in: bool,
                     want_out: bool, want_err: bool, logs: bool, stream: bool, tty: bool,
                     since: float, scanner: Any = None) -> None:
        from dockyard.engine.state import State

        running = (State.RUNNING, State.PAUSED)
        if logs and (not stream or live.state not in running):
            await self._replay(resp, inp, live, want_out, want_err, tty, False, 0)
        if not stream:
            return
        loop = asyncio.get_running_loop()
        log_file = None
        sock = None
        if live.state not in running:
            # docker run / start -a attach before the start. The log file and the stdin
            # connection are opened in the start event's callback, before the container
            # can exit and be removed (--rm), so that no output is lost.
            log_file, sock = await self._wait_start(live, inp, want_in, want_out, want_err)
            if log_file is None and sock is None:
                return
        else:
            try:
                sock = await self.engine.attach(live.id, stdin=want_in, stdout=want_out,
                                                stderr=want_err)
            except Exception:
                return
        try:
            if sock is not None:
                sock.setblocking(False)
            if logs and log_file is None:
                await self._replay(resp, inp, live, want_out, want_err, tty, False, 0)
            pump_in = asyncio.ensure_future(self._pump_in(loop, inp, sock, want_in, scanner))
            copy = asyncio.ensure_future(self._copy_out(resp, inp, live, log_file, sock,
                                                        want_out, want_err, tty))
            detached = asyncio.ensure_future(inp.detached.wait())
            try:
                # The detach keys end the stream at once; the container runs on.
                await asyncio.wait({copy, detached}, return_when=asyncio.FIRST_COMPLETED)
                if copy.done():
                    copy.result()
            finally:
                for task in (pump_in, copy, detached):
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        finally:
            if sock is not None:
                sock.close()
            if log_file is not None:
                log_file.close()

    async def _copy_out(self, resp: web.StreamResponse, inp: _Input, live: Any,
                        log_file: Any, sock: socket.socket | None, want_out: bool,
                        want_err: bool, tty: bool) -> None:
        if log_file is not None and sock is not None and (want_out or want_err):
            await self._log_then_socket(resp, inp, live, log_file, sock, want_out, want_err,
                                        tty)
        elif log_file is not None:
            await self._follow_file(resp, inp, live, log_file, want_out, want_err, tty)
        elif sock is not None:
            await self._relay_socket(resp, inp, sock)

    async def _relay_socket(self, resp: web.StreamResponse, inp: _Input,
                            sock: socket.socket) -> None:
        """The shim's attach stream as it comes: already Docker's frames (raw with a TTY)."""
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(sock, PIECE)
            if not data:
                break
            await self._write(resp, inp, data)

    async def _log_then_socket(self, resp: web.StreamResponse, inp: _Input, live: Any,
                               log_file: Any, sock: socket.socket, want_out: bool,
                               want_err: bool, tty: bool) -> None:
        """A run's output: the log from where the run began up to the size the shim
        reported when we joined (log_offset in shim.py), then the shim's own stream,
        which carries everything after. Nothing is decoded from JSON past the join, and
        the stream ends when the shim closes it, as the container's output ends."""
        from dockyard.engine.jsonlog import decode_records

        loop = asyncio.get_running_loop()
        buf = b""
        with contextlib.suppress(OSError):  # reset: the shim ended before it answered
            while b"\n" not in buf and len(buf) < 4096:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    break
                buf += chunk
        line, sep, rest = buf.partition(b"\n")
        try:
            mark = json.loads(line) if sep else {}
        except ValueError:
            mark = {}
        size = mark.get("log_size", -1) if isinstance(mark, dict) else -1
        if size < log_file.tell() or \
                mark.get("log_inode") != os.fstat(log_file.fileno()).st_ino:
            # The shim was gone before we joined, or the log rotated meanwhile: the log
            # alone, as it is written (the shim's stream is read and dropped).
            drain = asyncio.ensure_future(_discard(loop, sock))
            try:
                await self._follow_file(resp, inp, live, log_file, want_out, want_err, tty)
            finally:
                drain.cancel()
            return
        streams = {"stdout"} if want_out else set()
        if want_err:
            streams.add("stderr")
        left = size - log_file.tell()
        pending = b""
        while left > 0:
            chunk = await asyncio.to_thread(log_file.read, min(left, 4 << 20))
            if not chunk:
                break
            left -= len(chunk)
            pending += chunk
            end = pending.rfind(b"\n") + 1
            blob, pending = pending[:end], pending[end:]
            for stream, data in decode_records(blob, streams):
                for piece in _pieces(stream, data, tty):
                    await self._write(resp, inp, piece)
        if rest:
            await self._write(resp, inp, rest)
        await self._relay_socket(resp, inp, sock)

    async def _wait_start(self, live: Any, inp: _Input, want_in: bool, want_out: bool,
                          want_err: bool) -> tuple[Any, socket.socket | None]:
        from dockyard.engine.shim import ATTACH_SOCK, connect_attach

        engine = self.engine
        got: dict[str, Any] = {}
        done = asyncio.Event()
        use_log = ((live.rec["HostConfig"].get("LogConfig") or {}).get("Type")
                   or "json-file") in ("json-file", "local")

        # What the log holds now is from earlier runs: this attach starts after it.
        try:
            st = os.stat(engine.log_path(live.id))
            offset, inode = st.st_size, st.st_ino
        except OSError:
            offset, inode = 0, None

        def on_event(event: dict[str, Any]) -> None:
            if event.get("id") != live.id or done.is_set():
                return
            if event.get("Action") == "start":
                if use_log:
                    with contextlib.suppress(OSError):
                        got["log"] = _open_log_from(engine.log_path(live.id), inode, offset)
                if want_in or want_out or want_err:
                    # With a log, output comes from the log up to where the shim stands
                    # when we join, then from the shim itself (see _log_then_socket).
                    header = {"stdin": want_in, "stdout": want_out, "stderr": want_err}
                    if "log" in got and (want_out or want_err):
                        header["log_offset"] = True
                    try:
                        sock = connect_attach(os.path.join(engine.state_dir(live.id),
                                                           ATTACH_SOCK))
                        sock.sendall(json.dumps(header).encode() + b"\n")
                        got["sock"] = sock
                    except OSError:
                        pass
                done.set()
            elif event.get("Action") == "destroy":
                done.set()

        unsubscribe = engine.subscribe(on_event)
        try:
            while not done.is_set():
                if inp.lost or engine._live.get(live.id) is not live:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.5)
        finally:
            unsubscribe()
        if inp.lost:
            for key in ("log", "sock"):
                if key in got:
                    got[key].close()
            return None, None
        return got.get("log"), got.get("sock")

    async def _follow_file(self, resp: web.StreamResponse, inp: _Input, live: Any,
                           log_file: Any, want_out: bool, want_err: bool, tty: bool) -> None:
        """Copy json-file entries written from now on until the container stops,
        across rotations (the caller closes ``log_file``; later files are closed here)."""
        from dockyard.engine.jsonlog import decode_records
        from dockyard.engine.state import State

        pending = b""
        streams = {"stdout"} if want_out else set()
        if want_err:
            streams.add("stderr")
        path = self.engine.log_path(live.id)
        opened: list[Any] = []
        switch_to = None
        stopped = asyncio.Event()

        def on_event(event: dict[str, Any]) -> None:
            if event.get("id") == live.id and event.get("Action") in ("die", "destroy"):
                stopped.set()

        unsubscribe = self.engine.subscribe(on_event)
        try:
            while True:
                running = live.state in (State.RUNNING, State.PAUSED) and \
                    self.engine._live.get(live.id) is live
                chunk = await asyncio.to_thread(log_file.read, 4 << 20)
                if chunk:
                    pending += chunk
                    end = pending.rfind(b"\n") + 1
                    blob, pending = pending[:end], pending[end:]
                    # Decoded in bulk: many lines per frame (see jsonlog.decode_records).
                    for stream, data in decode_records(blob, streams):
                        for piece in _pieces(stream, data, tty):
                            await self._write(resp, inp, piece)
                    if len(chunk) < 1 << 20 and running:
                        # Caught up with a busy writer: let the log grow a little rather
                        # than come back for every few KiB.
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stopped.wait(), 0.005)
                    continue
                if switch_to is not None:
                    # The rest of the rotated file is read: go on with the new one.
                    log_file, pending, switch_to = switch_to, b"", None
                    continue
                switch_to = await asyncio.to_thread(_reopen_if_rotated, log_file, path)
                if switch_to is not None:
                    opened.append(switch_to)
                    continue  # one more read of the old file: written before the rename
                if not running or inp.lost:
                    return
                # Polled while it runs; woken at once when it stops, so the stream
                # (and `docker run`) ends with the container.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopped.wait(), 0.05)
        finally:
            unsubscribe()
            for f in opened:
                f.close()

    async def _pump_in(self, loop: asyncio.AbstractEventLoop, inp: _Input,
                       sock: socket.socket | None, want_in: bool, scanner: Any = None
                       ) -> None:
        while True:
            data = await inp.queue.get()
            if data is not None and scanner is not None:
                data, hit = scanner.feed(data)
                if hit:
                    if data and sock is not None:
                        with contextlib.suppress(OSError):
                            await loop.sock_sendall(sock, data)
                    inp.detached.set()
                    return
                if not data:
                    continue
            if data is None:
                if sock is not None and want_in:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                return
            if sock is not None and want_in:
                try:
                    await loop.sock_sendall(sock, data)
                except OSError:
                    return

    # --- resize, top, stats, prune ------------------------------------------------

    async def resize(self, request: web.Request) -> web.StreamResponse:
        h, w = int_value(request, "h"), int_value(request, "w")
        await self.engine.resize(request.match_info["id"], h, w)
        return web.Response(status=200)

    async def top(self, request: web.Request) -> web.StreamResponse:
        ps_args = request.query.get("ps_args") or "-ef"
        return json_response(await self.engine.top(request.match_info["id"], ps_args))

    async def stats(self, request: web.Request) -> web.StreamResponse:
        live = self._live(request.match_info["id"])
        stream = bool_value(request, "stream", True)
        one_shot = bool_value(request, "one-shot")
        if one_shot and stream:
            raise BadParameter("cannot have stream=true and one-shot=true")
        pre = await self._sample(live)
        if not stream:
            if not one_shot and live.state.value == "running":
                await asyncio.sleep(1)
                cur = await self._sample(live)
                return json_response(_stats_doc(live, cur, pre))
            return json_response(_stats_doc(live, pre, None))
        resp = web.StreamResponse(status=200)
        resp.content_type = JSON
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        previous = None
        cur = pre
        try:
            while not _client_gone(request):
                await resp.write(dump(_stats_doc(live, cur, previous)) + b"\n")
                if live.state.value not in ("running", "paused"):
                    break
                await asyncio.sleep(1)
                previous, cur = cur, await self._sample(live)
            await resp.write_eof()
        except ConnectionError:
            pass
        return resp

    async def _sample(self, live: Any) -> dict[str, Any] | None:
        if live.state.value not in ("running", "paused"):
            return None
        runtime_root = self.engine.runtime_root
        net = self.hooks.network
        att = net.get(live.id) if net is not None else None

        def read() -> dict[str, Any]:
            from dockyard.runtime.api import Container

            raw = Container(runtime_root, live.id).cgroups.stats()
            raw["_read"] = time.time_ns()
            raw["_system"] = _system_cpu_ns()
            if att is not None and att.host_veth:
                raw["_net"] = _veth_stats(att.host_veth)
            return raw

        try:
            return await asyncio.to_thread(read)
        except Exception as err:
            raise NotImplementedYet(f"stats are not available for container {live.id}: "
                                    f"{err}") from None

    async def prune(self, request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request, frozenset({"until", "label", "label!"}))
        until = parse_timestamp(filters["until"][0]) if filters.get("until") else None
        deleted = []
        for summary in await self.engine.list(all=True):
            if summary["State"] not in ("created", "exited", "dead"):
                continue
            if until is not None and summary["Created"] >= until:
                continue
            labels = summary.get("Labels") or {}
            if not all(_label_ok(labels, v) for v in filters.get("label", [])):
                continue
            if any(_label_ok(labels, v) for v in filters.get("label!", [])):
                continue
            with contextlib.suppress(Exception):
                await self.engine.remove(summary["Id"])
                deleted.append(summary["Id"])
        return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": 0})


def _label_ok(labels: dict[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields) * 10**9 // ticks


def _veth_stats(name: str) -> dict[str, int]:
    base = f"/sys/class/net/{name}/statistics"
    out = {}
    # the host end: what it receives, the container sent
    swap = {"rx": "tx", "tx": "rx"}
    for ours in ("rx", "tx"):
        for what in ("bytes", "packets", "errors", "dropped"):
            try:
                with open(f"{base}/{swap[ours]}_{what}") as f:
                    out[f"{ours}_{what}"] = int(f.read())
            except (OSError, ValueError):
                out[f"{ours}_{what}"] = 0
    return out


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    return value


def _cpu_part(sample: dict[str, Any] | None) -> dict[str, Any]:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                              "usage_in_usermode": 0}, "throttling_data": {
            "periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    cpu = _strip_none(dict(sample.get("cpu_stats") or {}))
    cpu.setdefault("cpu_usage", {"total_usage": 0})
    cpu.setdefault("throttling_data", {"periods": 0, "throttled_periods": 0,
                                       "throttled_time": 0})
    cpu["system_cpu_usage"] = sample["_system"]
    cpu["online_cpus"] = cpu.get("online_cpus") or os.cpu_count() or 1
    return cpu


def _stats_doc(live: Any, cur: dict[str, Any] | None, pre: dict[str, Any] | None
               ) -> dict[str, Any]:
    from dockyard.engine.jsonlog import rfc3339nano

    zero = "0001-01-01T00:00:00Z"
    memory = _strip_none(dict((cur or {}).get("memory_stats") or {}))
    if cur is not None and "limit" not in memory:
        with contextlib.suppress(OSError, ValueError):
            memory["limit"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    doc = {
        "name": live.rec["Name"], "id": live.id,
        "read": rfc3339nano(cur["_read"]) if cur else zero,
        "preread": rfc3339nano(pre["_read"]) if pre else zero,
        "pids_stats": _strip_none(dict((cur or {}).get("pids_stats") or {})),
        "blkio_stats": _strip_none(dict((cur or {}).get("blkio_stats") or {})) or {
            "io_service_bytes_recursive": None, "io_serviced_recursive": None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": _cpu_part(cur), "precpu_stats": _cpu_part(pre),
        "memory_stats": memory,
    }
    if cur is not None and cur.get("_net"):
        doc["networks"] = {"eth0": cur["_net"]}
    return doc


def routes(hooks: Any) -> list[tuple[str, str, Handler]]:
    r = Routes(hooks)
    table: list[tuple[str, str, Handler]] = [
        ("POST", "/containers/create", r.create),
        ("GET", "/containers/json", r.list),
        ("POST", "/containers/prune", r.prune),
        ("GET", "/containers/{id}/json", r.inspect),
        ("POST", "/containers/{id}/start", r.start),
        ("POST", "/containers/{id}/stop", r.stop),
        ("POST", "/containers/{id}/restart", r.restart),
        ("POST", "/containers/{id}/kill", r.kill),
        ("POST", "/containers/{id}/pause", r.pause),
        ("POST", "/containers/{id}/unpause", r.unpause),
        ("POST", "/containers/{id}/wait", r.wait),
        ("DELETE", "/containers/{id}", r.remove),
        ("POST", "/containers/{id}/rename", r.rename),
        ("POST", "/containers/{id}/update", r.update),
        ("GET", "/containers/{id}/logs", r.logs),
        ("POST", "/containers/{id}/attach", r.attach),
        ("POST", "/containers/{id}/resize", r.resize),
        ("GET", "/containers/{id}/top", r.top),
        ("GET", "/containers/{id}/stats", r.stats),
    ]
    return [(m, p, engine_errors(h)) for m, p, h in table]


__all__ = ["Routes", "routes"]


def _log_chain(path: str) -> list[tuple[str, int]]:
    """The log files (see jsonlog.log_files), oldest first, with their inodes."""
    from dockyard.engine.jsonlog import log_files

    out = []
    for name in log_files(path):
        with contextlib.suppress(OSError):
            out.append((name, os.stat(name).st_ino))
    return out


def _open_log_from(path: str, inode: int | None, offset: int) -> Any:
    """The log file to follow a run from: the newest file of before the run (``inode``)
    at ``offset`` while it exists, else the oldest file there is (all of it is from this
    run: the run rotated the log already)."""
    chain = _log_chain(path)
    for name, ino in chain:
        if ino == inode:
            f = open(name, "rb")  # noqa: SIM115
            if f.seek(0, os.SEEK_END) >= offset:
                f.seek(offset)
            else:  # truncated in place (max-file 1): all of it is this run's
                f.seek(0)
            return f
    if not chain:
        raise FileNotFoundError(path)
    return open(chain[0][0], "rb")


def _reopen_if_rotated(log_file: Any, path: str) -> Any:
    """The file to go on with after ``log_file`` is read to its end: the next newer one
    of the log files (matched by inode, as rotation renames them), or None while
    ``log_file`` is still the newest (seeking back to 0 if it was truncated in place)."""
    ino = os.fstat(log_file.fileno()).st_ino
    chain = _log_chain(path)
    inodes = [i for _, i in chain]
    if not chain or inodes[-1] == ino:
        if chain and os.fstat(log_file.fileno()).st_size < log_file.tell():
            log_file.seek(0)  # max-file 1: truncated in place
        return None
    # Renamed away: the next newer file; deleted (more rotations than max-file while
    # nobody read): the oldest left.
    name = chain[inodes.index(ino) + 1][0] if ino in inodes else chain[0][0]
    try:
        return open(name, "rb")
    except OSError:
        return None

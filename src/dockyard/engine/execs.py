"""Exec instances: ``docker exec`` in the engine, without forking the daemon.

Theory of operation. An exec is created (``POST /containers/{id}/exec``) as a record in
memory, kept per container and dropped when the container is removed. Starting it
launches the exec helper (execer.py) with subprocess (fork+exec at once, from a thread),
hands it the OCI process over a socketpair and relays its framed output to whoever
started it (an :class:`ExecSession`); the exit code is recorded before the session's
output ends, so that ``GET /exec/{id}/json`` right after EOF has it.

An exec's states, one table (``_ALLOWED``):

    created --start--> running --exit--> exited
    (start is refused while running: "already running", and after: "has already run")
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import secrets
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any

from . import execer as _proto
from .errors import Conflict, EngineError, InvalidParameter, NotFound
from .state import check

STARTED_TIMEOUT = 10.0  # resize waits this long for a just-started exec (as moby)


@dataclass
class ExecConfig:
    """Docker's ExecConfig (``POST /containers/{id}/exec`` body)."""

    cmd: list[str]
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    tty: bool = False
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    privileged: bool = False
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None

    @classmethod
    def from_json(cls, body: Any) -> ExecConfig:
        if not isinstance(body, dict):
            raise InvalidParameter("exec config must be an object")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidParameter("No exec command specified")
        if not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
            raise InvalidParameter("Cmd must be a list of strings")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
            raise InvalidParameter("Env must be a list of strings")
        for entry in env:
            if not entry or entry.startswith("="):
                raise InvalidParameter(f"invalid environment variable: {entry}")
        workdir = body.get("WorkingDir") or ""
        if workdir and not workdir.startswith("/"):
            raise InvalidParameter(
                f"the working directory '{workdir}' is invalid, it needs to be an "
                "absolute path")
        detach_keys = str(body.get("DetachKeys") or "")
        parse_detach_keys(detach_keys)
        return cls(cmd=list(cmd), attach_stdin=bool(body.get("AttachStdin")),
                   attach_stdout=bool(body.get("AttachStdout")),
                   attach_stderr=bool(body.get("AttachStderr")), tty=bool(body.get("Tty")),
                   env=list(env), working_dir=workdir, user=str(body.get("User") or ""),
                   privileged=bool(body.get("Privileged")),
                   detach_keys=detach_keys,
                   console_size=parse_console_size(body.get("ConsoleSize")))


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
_CTRL_PUNCT = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(text: str) -> bytes:
    """Docker's ``--detach-keys``: ``ctrl-p,ctrl-q``, ``a``, ``ctrl-@`` ... as bytes;
    empty means the default (ctrl-p ctrl-q)."""
    if not text:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in text.split(","):
        low = key.strip().lower()
        if len(key) == 1 and key.isascii():
            out.append(ord(key))
        elif low.startswith("ctrl-") and len(low) == 6 and "a" <= low[5] <= "z":
            out.append(ord(low[5]) - ord("a") + 1)
        elif low.startswith("ctrl-") and len(low) == 6 and low[5] in _CTRL_PUNCT:
            out.append(_CTRL_PUNCT[low[5]])
        else:
            raise InvalidParameter(f"Invalid escape keys ({text}) provided")
    return bytes(out)


class DetachScanner:
    """moby's escape proxy: bytes that could start the detach sequence are held back
    until it completes (detach) or breaks (they are forwarded)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """-> (bytes to forward, whether the sequence was typed)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                self.held = candidate
                continue
            out += self.held
            self.held = b""
            if self.keys[:1] == bytes([byte]):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False


def parse_console_size(raw: Any) -> tuple[int, int] | None:
    """``[height, width]``; null or ``[0, 0]`` mean none."""
    if raw is None:
        return None
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(v, int) and v >= 0 for v in raw)):
        raise InvalidParameter("ConsoleSize must be [height, width]")
    return None if raw == [0, 0] else (raw[0], raw[1])


@dataclass
class ExecRecord:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    session: ExecSession | None = None
    started_event: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
            "ProcessConfig": {"tty": cfg.tty, "entrypoint": cfg.cmd[0],
                              "arguments": cfg.cmd[1:], "privileged": cfg.privileged,
                              "user": cfg.user},
            "OpenStdin": cfg.attach_stdin, "OpenStderr": cfg.attach_stderr,
            "OpenStdout": cfg.attach_stdout,
            "CanRemove": self.started and not self.running,
            "ContainerID": self.container_id, "DetachKeys": cfg.detach_keys,
            "Pid": self.pid,
        }


class ExecSession:
    """A started exec: ``await read()`` gives ``(1|2, bytes)`` until ``None`` (the exit
    code is recorded by then); ``write_stdin``, ``close_stdin``, ``resize``; ``detach()``
    stops delivering output (it is discarded) without stopping the process."""

    def __init__(self, record: ExecRecord, writer: asyncio.StreamWriter | None) -> None:
        self.record = record
        self._writer = writer
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=64)
        self._detached = False
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.error = ""

    async def read(self) -> tuple[int, bytes] | None:
        return await self._queue.get()

    async def _deliver(self, item: tuple[int, bytes] | None) -> None:
        if item is not None and self._detached:
            return
        if item is None:
            # Never block the end marker: make room by dropping output if need be.
            while self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
            return
        await self._queue.put(item)

    def detach(self) -> None:
        """The client is gone: discard output from now on (the process runs on)."""
        self._detached = True
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)
                break

    def _send(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self._writer.write(data)

    def write_stdin(self, data: bytes) -> None:
        if data and self.record.config.attach_stdin:
            self._send(_proto.frame(_proto.STDIN, data))

    def close_stdin(self) -> None:
        self._send(_proto.frame(_proto.CLOSE_STDIN))

    def resize(self, height: int, width: int) -> None:
        self._send(_proto.json_frame(_proto.RESIZE, {"height": height, "width": width}))


class ExecManager:
    """The exec instances of one :class:`ContainerEngine` (``engine.execs``)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._records: dict[str, ExecRecord] = {}
        self._tasks: set[asyncio.Task] = set()

    # --- records -----------------------------------------------------------------------

    def get(self, exec_id: str) -> ExecRecord:
        rec = self._records.get(exec_id)
        if rec is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return rec

    def ids_for(self, container_id: str) -> list[str]:
        return [r.id for r in self._records.values() if r.container_id == container_id]

    def forget_container(self, container_id: str) -> None:
        """The container was removed: its execs go with it."""
        for exec_id in self.ids_for(container_id):
            rec = self._records.pop(exec_id)
            if rec.session is not None:
                rec.session.detach()

    def _check_container(self, container_id: str) -> Any:
        live = self.engine._get(container_id)
        check("exec", live.name, live.state)
        return live

    async def create(self, container: str, body: Any) -> str:
        """``POST /containers/{id}/exec``: returns the new exec's ID."""
        config = ExecConfig.from_json(body)
        live = self._check_container(container)
        exec_id = secrets.token_hex(32)
        rec = ExecRecord(exec_id, live.id, config)
        self._records[exec_id] = rec
        self.emit(rec, "exec_create")
        return exec_id

    def emit(self, rec: ExecRecord, action: str, **extra: str) -> None:
        """moby's exec events on the container: ``exec_create: CMD ARGS`` and
        ``exec_start: CMD ARGS`` (the command in the action), ``exec_die`` (with
        ``exitCode``), ``exec_detach``; each with ``execID``."""
        live = self.engine._live.get(rec.container_id)
        if live is None:
            return
        if action in ("exec_create", "exec_start"):
            cmd = rec.config.cmd
            action = f"{action}: {cmd[0]} {' '.join(cmd[1:])}"
        self.engine._emit(live, action, execID=rec.id, **extra)

    def inspect(self, exec_id: str) -> dict[str, Any]:
        return self.get(exec_id).inspect()

    def check_start(self, exec_id: str) -> ExecRecord:
        """Every refusal of a start, before the API hijacks the connection."""
        rec = self.get(exec_id)
        if rec.running:
            raise Conflict(f"Error: Exec command {exec_id} is already running")
        if rec.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        self._check_container(rec.container_id)
        return rec

    # --- start ------------------------------------------------------------------------

    async def start(self, exec_id: str, console_size: tuple[int, int] | None = None,
                    detach: bool = False) -> ExecSession:
        """Start the exec; returns once its process runs (or failed to start: then the
        session's ``error`` says why and its exit code is recorded already)."""
        rec = self.check_start(exec_id)
        live = self.engine._get(rec.container_id)
        rec.started = True
        rec.running = True
        self.emit(rec, "exec_start")
        size = console_size or rec.config.console_size
        try:
            process = await asyncio.to_thread(self._process_spec, live, rec.config, size)
        except EngineError as err:
            return self._failed(rec, err.message)
        except Exception as err:
            return self._failed(rec, str(err) or type(err).__name__)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = await asyncio.to_thread(self._launch, live.id, child)
        except Exception as err:
            parent.close()
            return self._failed(rec, f"cannot start the exec helper: {err}")
        finally:
            child.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        session = ExecSession(rec, writer)
        rec.session = session
        if detach:
            session.detach()
        writer.write(_proto.json_frame(_proto.START, {
            "process": process, "stdin": rec.config.attach_stdin}))
        parser = _proto.FrameParser()
        pending: list[tuple[int, bytes]] = []
        answer: tuple[int, bytes] | None = None
        while answer is None:
            data = await reader.read(65536)
            if not data:
                answer = (_proto.ERROR, json.dumps(
                    {"message": "the exec helper exited without a report"}).encode())
                break
            for kind, payload in parser.feed(data):
                if answer is None and kind in (_proto.PID, _proto.ERROR):
                    answer = (kind, payload)
                else:
                    pending.append((kind, payload))
        kind, payload = answer
        if kind == _proto.ERROR:
            message = json.loads(payload).get("message", "exec failed")
            writer.close()
            await asyncio.to_thread(proc.wait)  # it exits right after its report
            return self._failed(rec, message, session)
        rec.pid = int(json.loads(payload)["pid"])
        rec.started_event.set()
        self._spawn(self._pump(rec, session, reader, writer, parser, pending, proc))
        return session

    def _failed(self, rec: ExecRecord, message: str,
                session: ExecSession | None = None) -> ExecSession:
        rec.running = False
        rec.exit_code = _proto.exit_code_for_error(message)
        rec.started_event.set()
        if session is None:
            session = ExecSession(rec, None)
            rec.session = session
        session.error = message
        session._queue.put_nowait(None)
        if not session.done.done():
            session.done.set_result(rec.exit_code)
        return session

    async def _pump(self, rec: ExecRecord, session: ExecSession,
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    parser: _proto.FrameParser, pending: list[tuple[int, bytes]],
                    proc: subprocess.Popen) -> None:
        code: int | None = None
        try:
            frames = pending
            while True:
                for kind, payload in frames:
                    if kind in (_proto.STDOUT, _proto.STDERR):
                        await session._deliver((kind, payload))
                    elif kind == _proto.EXIT:
                        code = int(json.loads(payload)["exit_code"])
                    elif kind == _proto.ERROR:
                        session.error = json.loads(payload).get("message", "")
                if code is not None:
                    break
                data = await reader.read(65536)
                if not data:
                    break
                frames = parser.feed(data)
        except (OSError, ValueError):
            pass
        finally:
            writer.close()
            # The helper exits right after its EXIT frame: reap it before the end.
            await asyncio.to_thread(proc.wait)
            # The exit code first: a client reading EOF inspects the exec straight away.
            rec.exit_code = 255 if code is None else code
            rec.running = False
            self.emit(rec, "exec_die", exitCode=str(rec.exit_code))
            if not session.done.done():
                session.done.set_result(rec.exit_code)
            await session._deliver(None)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _launch(self, container_id: str, child: socket.socket) -> subprocess.Popen:
        argv = [self.engine.config.python, "-I", "-m", "dockyard.engine.execer",
                "--runtime-root", self.engine.runtime_root, "--id", container_id,
                "--fd", str(child.fileno())]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, close_fds=True,
                                pass_fds=(child.fileno(),), cwd="/", start_new_session=True)

    def _process_spec(self, live: Any, cfg: ExecConfig,
                      console_size: tuple[int, int] | None) -> dict[str, Any]:
        """The container's OCI process with the exec's command, env, cwd, user, TTY."""
        from .containers import _read_in_root
        from .spec import merge_env, resolve_user

        with open(os.path.join(self.engine.container_dir(live.id), "config.json")) as f:
            oci = json.load(f)
        process = copy.deepcopy(oci["process"])
        process["args"] = list(cfg.cmd)
        process["terminal"] = cfg.tty
        process.pop("consoleSize", None)
        if cfg.tty and console_size:
            process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
        process["env"] = merge_env(process.get("env"), cfg.env)
        if cfg.working_dir:
            process["cwd"] = cfg.working_dir
        if cfg.user:
            rootfs = self.engine.rootfs(live.id)
            uid, gid, extra = resolve_user(cfg.user, _read_in_root(rootfs, "/etc/passwd"),
                                           _read_in_root(rootfs, "/etc/group"))
            process["user"] = {"uid": uid, "gid": gid}
            if extra:
                process["user"]["additionalGids"] = extra
        if cfg.privileged:
            from dockyard.runtime.defaults import all_capabilities

            caps = all_capabilities()
            process["capabilities"] = {"bounding": list(caps), "effective": list(caps),
                                       "permitted": list(caps)}
        return process

    # --- resize -----------------------------------------------------------------------

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        rec = self.get(exec_id)
        # As moby: the CLI resizes right after the hijacked start answered, which can be
        # before the process runs; wait for it.
        try:
            await asyncio.wait_for(rec.started_event.wait(), STARTED_TIMEOUT)
        except TimeoutError:
            raise EngineError("timeout waiting for exec session ready") from None
        if rec.running and rec.session is not None:
            rec.session.resize(height, width)

    async def close(self) -> None:
        """Stop relaying (the engine closes); running execs' processes go on."""
        for rec in self._records.values():
            if rec.session is not None:
                rec.session.detach()


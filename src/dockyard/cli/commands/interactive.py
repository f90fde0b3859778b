"""``exec`` and ``attach``: hijacked streams, the terminal in raw mode, exit codes."""

from __future__ import annotations

from typing import Any

from ..context import CLIError, Context
from ..flags import Parsed
from .common import is_terminal
from .containers import _raw_terminal, _write
from .run import (
    StdinPump,
    _install_signal_handlers,
    _restore_signal_handlers,
    _terminal_size,
    detach_sequence,
    parse_env,
    wait_result,
)


def exec_(ctx: Context, opts: Parsed) -> int:
    from dockyard.client.errors import APIError

    container, command = opts.args[0], opts.args[1:]
    tty = bool(opts.tty)
    if tty and opts.interactive and not opts.detach and not is_terminal(ctx.stdin):
        raise CLIError("the input device is not a TTY", 1)
    size = _terminal_size(ctx.stdout) if tty else None
    config: dict[str, Any] = {
        "User": opts.user or "",
        "Privileged": bool(opts.privileged),
        "Tty": tty,
        "AttachStdin": bool(opts.interactive) and not opts.detach,
        "AttachStdout": not opts.detach,
        "AttachStderr": not opts.detach,
        "Detach": bool(opts.detach),
        "Env": parse_env(opts.env, opts.env_file) or None,
        "WorkingDir": opts.workdir or "",
        "Cmd": command,
    }
    keys = ctx.detach_keys(opts.detach_keys)
    if keys:
        config["DetachKeys"] = keys
    if size:
        config["ConsoleSize"] = list(size)
    client = ctx.client
    exec_id = client.exec_create(container, config).get("Id", "")
    if not exec_id:
        raise CLIError("exec ID empty")
    if opts.detach:
        client.exec_start(exec_id, tty=tty, detach=True, console_size=list(size) if size
                          else None)
        return 0
    conn = client.exec_start(exec_id, tty=tty, console_size=list(size) if size else None)
    want_stdin = bool(opts.interactive)
    restore = _raw_terminal(ctx.stdin) if tty and want_stdin else None
    pump = StdinPump(ctx, conn, detach_sequence(keys) if tty else None)
    try:
        with conn:
            if want_stdin:
                pump.start()
            if size:
                try:
                    client.exec_resize(exec_id, size[0], size[1])
                except (APIError, OSError):
                    pass
            for stream, data in conn.frames():
                _write(ctx.stderr if stream == 2 else ctx.stdout, data)
    finally:
        if restore is not None:
            restore()
    if pump.detached:
        return _escaped(ctx)
    info = client.exec_inspect(exec_id) or {}
    code = info.get("ExitCode")
    return int(code or 0)


def attach(ctx: Context, opts: Parsed) -> int:
    name = opts.args[0]
    client = ctx.client
    info = client.inspect_container(name)
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CLIError("You cannot attach to a restarting container, wait until it is "
                       "running")
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    want_stdin = bool(config.get("OpenStdin")) and not opts.no_stdin
    cid = info.get("Id") or name
    keys = ctx.detach_keys(opts.detach_keys)
    conn = client.attach(cid, stdin=want_stdin, detach_keys=keys, tty=tty)
    waiter = client.wait_response(cid)
    restore = _raw_terminal(ctx.stdin) if tty and want_stdin and is_terminal(ctx.stdin) \
        else None
    handlers = _install_signal_handlers(ctx, cid, tty, opts.sig_proxy)
    pump = StdinPump(ctx, conn, detach_sequence(keys) if tty else None)
    try:
        with conn:
            if want_stdin:
                pump.start()
            if tty:
                size = _terminal_size(ctx.stdout)
                if size:
                    try:
                        client.resize(cid, size[0], size[1])
                    except Exception:  # as docker: best effort
                        pass
            for stream, data in conn.frames():
                _write(ctx.stderr if stream == 2 else ctx.stdout, data)
    finally:
        if restore is not None:
            restore()
        _restore_signal_handlers(handlers)
    if pump.detached:
        waiter.close()
        return _escaped(ctx)
    result = wait_result(waiter, True, client, cid)
    if result is None:
        return 0  # detached; the container keeps running
    error = (result.get("Error") or {}).get("Message")
    if error:
        ctx.stderr.write(f"{error}\n")
    return int(result.get("StatusCode") or 0)


def _escaped(ctx: Context) -> int:
    """docker attach / exec -it after the detach keys: the streamer's EscapeError goes
    out as the command's error (``run`` and ``start`` treat it as success)."""
    ctx.stderr.write("read escape sequence\n")
    return 1

"""Container commands: ps, rm, stop, start, restart, kill, wait, logs, rename, pause,
unpause, top."""

from __future__ import annotations

import time

from .. import format as fmt
from ..context import CLIError
from .common import for_each, parse_filters

TYPE_CHECKING = False  # typing and datetime cost every command's start-up
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Parsed

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
              "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES",
              "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM"}


def display_ports(ports: list[dict[str, Any]] | None) -> str:
    """``0.0.0.0:8080->80/tcp, 443-444/tcp`` (docker's DisplayablePorts)."""
    from ..netopts import display_ports as displayable

    return displayable(ports)


def container_row(c: dict[str, Any], trunc: bool = True, now: float | None = None) -> fmt.Row:
    cid = c.get("Id", "")
    names = [n[1:] if n.startswith("/") else n for n in c.get("Names") or []]
    if trunc:
        names = [n for n in names if "/" not in n][:1] or names[:1]
    image = c.get("Image") or "<no image>"
    if trunc:
        if image.startswith("sha256:"):
            image = fmt.truncate_id(image)
        elif "@" in image:
            image = image.split("@", 1)[0]
    command = c.get("Command") or ""
    created = c.get("Created", 0) or 0
    labels = c.get("Labels") or {}
    size_rw, size_root = c.get("SizeRw"), c.get("SizeRootFs")

    def size() -> str:
        if size_rw is None and size_root is None:
            return "0B"
        text = fmt.human_size(size_rw or 0, 3)
        if size_root:
            text += f" (virtual {fmt.human_size(size_root, 3)})"
        return text

    mounts = [m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []]
    networks = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    return fmt.Row({
        "ID": fmt.truncate_id(cid) if trunc else cid,
        "Image": image,
        "Command": fmt.go_quote(fmt.ellipsis(command, 20) if trunc else command),
        "CreatedAt": lambda: fmt.go_time(created),
        "RunningFor": lambda: fmt.since(created, now),
        "Ports": lambda: display_ports(c.get("Ports")),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": lambda: fmt.labels_string(labels),
        "Mounts": ",".join(fmt.ellipsis(m, 15) if trunc else m for m in mounts),
        "Networks": ",".join(networks),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        "Platform": "",
    }, {"Label": lambda key: labels.get(key, "")})


def ps(ctx: Context, opts: Parsed) -> int:
    last = -1 if opts.last is None else opts.last
    if opts.latest:
        last = 1
    filters = parse_filters(opts.filter)
    listing = ctx.client.containers(all=opts.all or last > 0, limit=last if last > 0 else None,
                                    size=opts.size or bool(opts.format and "Size" in opts.format),
                                    filters=filters)
    rows = [container_row(c, trunc=not opts.no_trunc) for c in listing]
    default = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
               "{{.Ports}}\t{{.Names}}" + ("\t{{.Size}}" if opts.size else ""))
    template = "{{.ID}}" if opts.quiet else (opts.format or "")
    fmt.write(ctx.stdout, template, rows, PS_HEADERS, default)
    return 0


def rm(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, lambda name: ctx.client.remove_container(
        name, v=opts.volumes, force=opts.force, link=opts.link))


def stop(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, lambda name: ctx.client.stop(
        name, timeout=opts.timeout, signal=opts.signal or None))


def restart(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, lambda name: ctx.client.restart(
        name, timeout=opts.timeout, signal=opts.signal or None))


def kill(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, lambda name: ctx.client.kill(name, opts.signal))


def pause(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, ctx.client.pause)


def unpause(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, ctx.client.unpause)


def wait(ctx: Context, opts: Parsed) -> int:
    def one(name: str) -> str:
        result = ctx.client.wait(name) or {}
        error = result.get("Error") or {}
        if error.get("Message"):
            ctx.stderr.write(f"{error['Message']}\n")
        return str(result.get("StatusCode", ""))

    return for_each(ctx, opts.args, one)


def rename(ctx: Context, opts: Parsed) -> int:
    old, new = opts.args
    if not old.strip() or not new.strip():
        raise CLIError("Error: Neither old nor new names may be empty")
    ctx.client.rename(old, new)
    return 0


def top(ctx: Context, opts: Parsed) -> int:
    result = ctx.client.top(opts.args[0], " ".join(opts.args[1:]) or None)
    lines = ["\t".join(result.get("Titles") or [])]
    lines += ["\t".join(proc) for proc in result.get("Processes") or []]
    ctx.stdout.write(fmt.tabwrite(lines, minwidth=20, padding=3))
    return 0


def _write(stream: Any, data: bytes) -> None:
    out = getattr(stream, "buffer", None)
    if out is not None:
        out.write(data)
        out.flush()
    else:
        stream.write(data.decode("utf-8", "replace"))
        stream.flush()


def logs(ctx: Context, opts: Parsed) -> int:
    name = opts.args[0]
    info = ctx.client.inspect_container(name)
    tty = bool((info.get("Config") or {}).get("Tty"))
    frames = ctx.client.logs(name, follow=opts.follow, timestamps=opts.timestamps,
                             tail=opts.tail or "all", since=_timestamp(opts.since),
                             until=_timestamp(opts.until), details=opts.details, tty=tty)
    for stream, data in frames:
        _write(ctx.stderr if stream == 2 else ctx.stdout, data)
    return 0


def _timestamp(value: str | None, now: float | None = None) -> str | None:
    """docker's GetTimestamp: a duration (``42m``) is relative to now; RFC 3339 dates and
    unix seconds pass as unix seconds."""
    if not value:
        return None
    import re
    now = fmt.now() if now is None else now
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:h|m|s|ms|us|ns))+)", value)
    if m:
        units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
        total = sum(float(n) * units[u]
                    for n, u in re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", value))
        return f"{now - total:.9f}".rstrip("0").rstrip(".")
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    from datetime import UTC, datetime
    text = value.replace("Z", "+00:00")
    for candidate in (text, text + "T00:00:00"):
        try:
            dt = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
            ts = time.mktime(dt.timetuple()) + dt.microsecond / 1e6
        else:
            ts = dt.timestamp()
        return f"{ts:.9f}".rstrip("0").rstrip(".")
    raise CLIError(f'invalid value for "since": failed to parse value as time or duration: '
                   f'"{value}"')


def start(ctx: Context, opts: Parsed) -> int:
    if opts.checkpoint or opts.checkpoint_dir:
        raise CLIError("checkpoints are not supported by dockyard", 125)
    if opts.attach or opts.interactive:
        if len(opts.args) > 1:
            raise CLIError("you cannot start and attach multiple containers at once")
        return _start_attached(ctx, opts)
    failed: list[str] = []

    def one(name: str) -> None:
        try:
            ctx.client.start(name)
        except Exception:
            failed.append(name)
            raise

    for_each(ctx, opts.args, one)
    if failed:
        raise CLIError(f"Error: failed to start containers: {', '.join(failed)}")
    return 0


def _start_attached(ctx: Context, opts: Parsed) -> int:
    """``start -a [-i]``: attach, start, copy the streams, exit with the container's code."""
    name = opts.args[0]
    info = ctx.client.inspect_container(name)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    want_stdin = bool(opts.interactive and config.get("OpenStdin"))
    from .run import StdinPump, detach_sequence

    keys = ctx.detach_keys(opts.detach_keys)
    conn = ctx.client.attach(name, stdin=want_stdin, detach_keys=keys, tty=tty)
    restore = _raw_terminal(ctx.stdin) if tty and want_stdin else None
    pump = StdinPump(ctx, conn, detach_sequence(keys) if tty else None)
    try:
        with conn:
            if want_stdin:
                pump.start()
            ctx.client.start(name)
            if tty:
                _resize(ctx, name)
            for stream, data in conn.frames():
                _write(ctx.stderr if stream == 2 else ctx.stdout, data)
    finally:
        if restore is not None:
            restore()
    if pump.detached:
        return 0  # as run: the container keeps running
    result = ctx.client.wait(name) or {}
    return int(result.get("StatusCode") or 0)


def _raw_terminal(stdin: Any) -> Any:
    """Put a terminal stdin in raw mode (the container's tty does the line editing);
    returns how to restore it, or None when stdin is not a terminal."""
    try:
        fd = stdin.fileno()
        import termios
        import tty as ttymod
        saved = termios.tcgetattr(fd)
        # TCSANOW: keys typed before the attach are kept (setraw's default flushes them)
        ttymod.setraw(fd, termios.TCSANOW)
    except (AttributeError, OSError, ValueError):
        return None
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _resize(ctx: Context, name: str) -> None:
    import shutil

    from dockyard.client.errors import APIError
    size = shutil.get_terminal_size((0, 0))
    if size.lines and size.columns:
        try:
            ctx.client.resize(name, size.lines, size.columns)
        except APIError:
            pass

"""cp, port, diff, export, commit, stats, events, system df, the prunes, update."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from typing import Any

from .. import format as fmt
from ..context import CLIError, Context
from ..flags import Parsed
from .common import binary_out, for_each, is_terminal, parse_filters, write_stream

# --- cp --------------------------------------------------------------------------------


def _split_cp_arg(arg: str) -> tuple[str, str]:
    """``container:path`` → (container, path); a local path → ("", path)."""
    if arg.startswith((".", "/")) or arg == "-":
        return "", arg
    name, sep, path = arg.partition(":")
    if not sep or "/" in name:
        return "", arg
    return name, path


def decode_stat(header: str) -> dict[str, Any]:
    if not header:
        return {}
    try:
        return json.loads(base64.b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, TypeError):
        return {}


def _is_dir_mode(mode: int) -> bool:
    return bool(mode & (1 << 31))  # Go's os.ModeDir


def _is_link_mode(mode: int) -> bool:
    return bool(mode & (1 << 27))  # Go's os.ModeSymlink


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf:
            try:
                self.buf = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


def cp(ctx: Context, opts: Parsed) -> int:
    src, dst = opts.args
    src_c, src_path = _split_cp_arg(src)
    dst_c, dst_path = _split_cp_arg(dst)
    if src_c and dst_c:
        raise CLIError("copying between containers is not supported")
    if not src_c and not dst_c:
        raise CLIError("must specify at least one container source")
    if src_c:
        if not src_path:
            raise CLIError("source can not be empty")
        return _copy_from(ctx, opts, src_c, src_path, dst_path)
    if not dst_path:
        raise CLIError("destination can not be empty")
    return _copy_to(ctx, opts, src_path, dst_c, dst_path)


def _copy_from(ctx: Context, opts: Parsed, container: str, path: str, dest: str) -> int:
    client = ctx.client
    if opts.follow_link:
        stat = decode_stat(client.stat_archive(container, path))
        if _is_link_mode(int(stat.get("mode") or 0)) and stat.get("linkTarget"):
            target = stat["linkTarget"]
            path = target if target.startswith("/") else os.path.join(
                os.path.dirname(path), target)
    chunks, header = client.get_archive(container, path)
    stat = decode_stat(header)
    if dest == "-":
        out = binary_out(ctx)
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return 0
    src_name = stat.get("name") or os.path.basename(path.rstrip("/")) or "."
    contents_only = path.endswith("/.") or path.endswith("/./")
    dest_exists = os.path.isdir(dest) or os.path.exists(dest)
    if dest_exists and os.path.isdir(dest):
        into, rename_to = dest, None
        if contents_only:
            rename_to = ""
    else:
        parent = os.path.dirname(dest.rstrip("/")) or "."
        if dest.endswith("/") and not _is_dir_mode(int(stat.get("mode") or 0)):
            raise CLIError(f'destination directory "{dest}" must exist')
        if not os.path.isdir(parent):
            raise CLIError(f'invalid output path: directory "{parent}" does not exist')
        into, rename_to = parent, os.path.basename(dest.rstrip("/"))
    total = _extract(chunks, into, src_name, rename_to, preserve=bool(opts.archive))
    if not opts.quiet and is_terminal(ctx.stderr):
        ctx.stderr.write(f"Successfully copied {fmt.human_size(total, 3)} to {dest}\n")
    return 0


def _extract(chunks: Iterator[bytes], into: str, src_name: str, rename_to: str | None,
             preserve: bool) -> int:
    """Extract the archive into ``into``, the top entry ``src_name`` renamed to
    ``rename_to`` ("" strips it); entries leaving ``into`` are refused."""
    total = 0
    root = os.path.realpath(into)
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(iter(chunks))), mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("/")
            if rename_to is not None:
                first, _, rest = name.partition("/")
                if first in (src_name, "."):
                    name = os.path.join(rename_to, rest) if rename_to else rest
            if not name or name in (".", "./"):
                continue
            member.name = name
            if member.islnk():
                first, _, rest = member.linkname.lstrip("/").partition("/")
                if rename_to is not None and first in (src_name, "."):
                    member.linkname = os.path.join(rename_to, rest) if rename_to else rest
            target = os.path.realpath(os.path.join(root, name))
            if target != root and not target.startswith(root + os.sep):
                raise CLIError(f"invalid archive entry {member.name!r}: outside the "
                               "destination")
            if member.isfile():
                total += member.size
            if member.isfile() and os.path.isdir(target) is False and os.path.lexists(target):
                os.unlink(target)
            try:
                tar.extract(member, root, set_attrs=True, numeric_owner=preserve,
                            **_TRUSTED)
            except (OSError, tarfile.TarError) as exc:
                if not isinstance(exc, PermissionError) or not member.isdir():
                    raise CLIError(str(exc)) from None
    return total


# paths are checked above; Python 3.12+ (and 3.11.4+) otherwise warns about the default
_TRUSTED: dict[str, Any] = ({"filter": "fully_trusted"}
                            if hasattr(tarfile, "fully_trusted_filter") else {})


def _tar_chunks(src: str, arcname: str, follow: bool, contents_only: bool) -> Iterator[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", dereference=follow,
                      format=tarfile.PAX_FORMAT) as tar:
        if contents_only:
            for entry in sorted(os.listdir(src)):
                tar.add(os.path.join(src, entry), arcname=entry)
        else:
            tar.add(src, arcname=arcname)
    yield buf.getvalue()


def _copy_to(ctx: Context, opts: Parsed, src: str, container: str, dest: str) -> int:
    from dockyard.client.errors import APIError

    client = ctx.client
    dest_stat: dict[str, Any] = {}
    try:
        dest_stat = decode_stat(client.stat_archive(container, dest))
    except APIError as exc:
        if exc.status != 404:
            raise
    dest_is_dir = _is_dir_mode(int(dest_stat.get("mode") or 0)) if dest_stat else False
    if src == "-":
        if dest_stat and not dest_is_dir:
            raise CLIError(f'destination "{container}:{dest}" must be a directory')
        source = getattr(ctx.stdin, "buffer", ctx.stdin)
        body: Any = iter(lambda: source.read(1 << 20), b"")
        client.put_archive(container, dest, body, no_overwrite_dir_non_dir=True,
                           copy_uid_gid=bool(opts.archive))
        return 0
    local = src
    if opts.follow_link:
        local = os.path.realpath(src)
    if not os.path.lexists(local):
        raise CLIError(f"lstat {os.path.abspath(src)}: no such file or directory")
    contents_only = src.endswith("/.") and os.path.isdir(local)
    if dest_stat and dest_is_dir:
        put_path, arcname = dest, os.path.basename(os.path.normpath(src))
    else:
        if dest.endswith("/") and not os.path.isdir(local):
            raise CLIError(f'destination "{container}:{dest}" must be a directory')
        put_path = os.path.dirname(dest.rstrip("/")) or "/"
        arcname = os.path.basename(dest.rstrip("/"))
        contents_only = False
    total = 0
    for root, _dirs, files in os.walk(local):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files
                     if os.path.isfile(os.path.join(root, f)))
    if os.path.isfile(local):
        total = os.path.getsize(local)
    client.put_archive(container, put_path, _tar_chunks(local, arcname, opts.follow_link,
                                                        contents_only),
                       no_overwrite_dir_non_dir=True, copy_uid_gid=bool(opts.archive))
    if not opts.quiet and is_terminal(ctx.stderr):
        ctx.stderr.write(f"Successfully copied {fmt.human_size(total, 3)} to "
                         f"{container}:{dest}\n")
    return 0


# --- port, diff, export, commit ----------------------------------------------------------


def port(ctx: Context, opts: Parsed) -> int:
    """docker's runPort: all mappings, or the host addresses of one container port."""
    from ..netopts import port_lines

    name = opts.args[0]
    want = opts.args[1] if len(opts.args) > 1 else None
    if want is not None:
        number = want.partition("/")[0]
        if not number.isdigit() or int(number) > 0xFFFF:
            why = "value out of range" if number.isdigit() else "invalid syntax"
            raise CLIError(f'Error: invalid port ({number}): strconv.ParseUint: parsing '
                           f'"{number}": {why}')
    info = ctx.client.inspect_container(name)
    lines = port_lines((info.get("NetworkSettings") or {}).get("Ports"), want)
    if want is not None and not lines:
        raise CLIError(f"Error: No public port '{want}' published for {name}")
    for line in lines:
        ctx.stdout.write(line + "\n")
    return 0


def diff(ctx: Context, opts: Parsed) -> int:
    kinds = {0: "C", 1: "A", 2: "D"}
    for change in ctx.client.changes(opts.args[0]) or []:
        ctx.stdout.write(f"{kinds.get(change.get('Kind'), '?')} {change.get('Path', '')}\n")
    return 0


def export(ctx: Context, opts: Parsed) -> int:
    if not opts.output and is_terminal(ctx.stdout):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    chunks = ctx.client.export(opts.args[0])
    write_stream(ctx, chunks, opts.output)
    return 0


def commit(ctx: Context, opts: Parsed) -> int:
    from dockyard.client.images import split_repo_tag

    container = opts.args[0]
    repo = tag = ""
    if len(opts.args) > 1:
        repo, tag = split_repo_tag(opts.args[1])
    result = ctx.client.commit(container, repo=repo, tag=tag, comment=opts.message or "",
                               author=opts.author or "", pause=opts.pause,
                               changes=opts.change)
    ctx.stdout.write(result.get("Id", "") + "\n")
    return 0


# --- stats -------------------------------------------------------------------------------

STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME",
                 "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                 "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def stats_row(s: dict[str, Any], container: str, trunc: bool = True) -> fmt.Row:
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage", 0)
                 - (pre.get("cpu_usage") or {}).get("total_usage", 0))
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get(
        "percpu_usage") or []) or 1
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0
    mem = s.get("memory_stats") or {}
    detail = mem.get("stats") or {}
    usage = mem.get("usage") or 0
    for key in ("total_inactive_file", "inactive_file"):
        if key in detail and detail[key] < usage:
            usage -= detail[key]
            break
    limit = mem.get("limit") or 0
    mem_pct = usage / limit * 100.0 if limit else 0.0
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += net.get("rx_bytes", 0)
        tx += net.get("tx_bytes", 0)
    read = write = 0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or "").lower()
        if op == "read":
            read += entry.get("value", 0)
        elif op == "write":
            write += entry.get("value", 0)
    cid = s.get("id") or ""
    name = (s.get("name") or "").lstrip("/")
    return fmt.Row({
        "Container": container,
        "ID": fmt.truncate_id(cid) if trunc else cid,
        "Name": name or "--",
        "CPUPerc": f"{cpu_pct:.2f}%",
        "MemUsage": f"{fmt.bytes_size(usage)} / {fmt.bytes_size(limit)}",
        "MemPerc": f"{mem_pct:.2f}%",
        "NetIO": f"{fmt.human_size(rx, 3)} / {fmt.human_size(tx, 3)}",
        "BlockIO": f"{fmt.human_size(read, 3)} / {fmt.human_size(write, 3)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)),
    })


def stats(ctx: Context, opts: Parsed) -> int:
    client = ctx.client
    names = opts.args or [c.get("Id", "") for c in client.containers(all=opts.all)]
    default = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
               "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")

    def sample() -> list[fmt.Row]:
        rows = []
        for name in names:
            s = next(iter(client.stats(name, stream=False, one_shot=False)), {}) or {}
            rows.append(stats_row(s, name, trunc=not opts.no_trunc))
        return rows

    if opts.no_stream:
        fmt.write(ctx.stdout, opts.format or "", sample(), STATS_HEADERS, default)
        return 0
    while True:
        rows = sample()
        if is_terminal(ctx.stdout):
            ctx.stdout.write("\033[2J\033[H")
        fmt.write(ctx.stdout, opts.format or "", rows, STATS_HEADERS, default)
        ctx.stdout.flush()
        time.sleep(0.5)


# --- events ------------------------------------------------------------------------------


def _event_time(event: dict[str, Any]) -> str:
    nanos = event.get("timeNano") or int(event.get("time", 0)) * 1_000_000_000
    secs, frac = divmod(int(nanos), 1_000_000_000)
    t = time.localtime(secs)
    offset = time.strftime("%z", t)
    tz = "Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{frac:09d}" + tz


def event_line(event: dict[str, Any]) -> str:
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    text = (f"{_event_time(event)} {event.get('Type', '')} {event.get('Action', '')} "
            f"{actor.get('ID', '')}")
    if attrs:
        text += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return text


def events(ctx: Context, opts: Parsed) -> int:
    from ..template import Template
    from .containers import _timestamp

    stream = ctx.client.events(since=_timestamp(opts.since), until=_timestamp(opts.until),
                               filters=parse_filters(opts.filter))
    template = None
    if opts.format:
        template = Template("{{json .}}" if opts.format == "json" else opts.format)
    for event in stream:
        if template is not None:
            ctx.stdout.write(template.render(event) + "\n")
        else:
            ctx.stdout.write(event_line(event) + "\n")
        ctx.stdout.flush()
    return 0


# --- system df, prune --------------------------------------------------------------------

DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}


def _reclaim(size: int, total: int) -> str:
    text = fmt.human_size(size, 3)
    if total > 0:
        text += f" ({int(size * 100 / total)}%)"
    return text


def system_df(ctx: Context, opts: Parsed) -> int:
    df = ctx.client.df()
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    img_total = df.get("LayersSize") or sum(i.get("Size", 0) for i in images)
    img_active = [i for i in images if (i.get("Containers") or 0) > 0]
    img_used = sum(i.get("Size", 0) - max(i.get("SharedSize", 0), 0) for i in img_active)
    ctr_total = sum(c.get("SizeRw", 0) or 0 for c in containers)
    ctr_active = [c for c in containers if c.get("State") == "running"]
    ctr_reclaim = sum(c.get("SizeRw", 0) or 0 for c in containers
                      if c.get("State") != "running")
    vol_total = sum(((v.get("UsageData") or {}).get("Size") or 0) for v in volumes)
    vol_active = [v for v in volumes if ((v.get("UsageData") or {}).get("RefCount") or 0)]
    vol_reclaim = sum(((v.get("UsageData") or {}).get("Size") or 0) for v in volumes
                      if not ((v.get("UsageData") or {}).get("RefCount") or 0))
    bc_total = sum(b.get("Size", 0) for b in cache)
    bc_reclaim = sum(b.get("Size", 0) for b in cache if not b.get("InUse"))
    rows = [
        fmt.Row({"Type": "Images", "TotalCount": str(len(images)),
                 "Active": str(len(img_active)), "Size": fmt.human_size(img_total, 3),
                 "Reclaimable": _reclaim(max(img_total - img_used, 0), img_total)}),
        fmt.Row({"Type": "Containers", "TotalCount": str(len(containers)),
                 "Active": str(len(ctr_active)), "Size": fmt.human_size(ctr_total, 3),
                 "Reclaimable": _reclaim(ctr_reclaim, ctr_total)}),
        fmt.Row({"Type": "Local Volumes", "TotalCount": str(len(volumes)),
                 "Active": str(len(vol_active)), "Size": fmt.human_size(vol_total, 3),
                 "Reclaimable": _reclaim(vol_reclaim, vol_total)}),
        fmt.Row({"Type": "Build Cache", "TotalCount": str(len(cache)),
                 "Active": str(sum(1 for b in cache if b.get("InUse"))),
                 "Size": fmt.human_size(bc_total, 3),
                 "Reclaimable": fmt.human_size(bc_reclaim, 3)}),
    ]
    default = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    fmt.write(ctx.stdout, opts.format or "", rows, DF_HEADERS, default)
    return 0


def _confirm(ctx: Context, warning: str) -> bool:
    ctx.stdout.write(warning + "\nAre you sure you want to continue? [y/N] ")
    ctx.stdout.flush()
    answer = ctx.stdin.readline() if hasattr(ctx.stdin, "readline") else ""
    return answer.strip().lower() in ("y", "yes")


def _prune_containers(ctx: Context, filters: dict[str, list[str]]) -> int:
    report = ctx.client.prune_containers(filters) or {}
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in deleted) + "\n")
    return int(report.get("SpaceReclaimed") or 0)


def _prune_networks(ctx: Context, filters: dict[str, list[str]]) -> None:
    report = ctx.client.prune_networks(filters) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted) + "\n")


def _prune_volumes(ctx: Context, filters: dict[str, list[str]]) -> int:
    report = ctx.client.prune_volumes(filters) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Volumes:\n" + "".join(f"{v}\n" for v in deleted) + "\n")
    return int(report.get("SpaceReclaimed") or 0)


def _prune_images(ctx: Context, filters: dict[str, list[str]], all_images: bool) -> int:
    filters = dict(filters)
    filters["dangling"] = ["false" if all_images else "true"]
    report = ctx.client.prune_images(filters) or {}
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        lines = []
        for item in deleted:
            if item.get("Untagged"):
                lines.append(f"untagged: {item['Untagged']}")
            if item.get("Deleted"):
                lines.append(f"deleted: {item['Deleted']}")
        ctx.stdout.write("Deleted Images:\n" + "".join(f"{ln}\n" for ln in lines) + "\n")
    return int(report.get("SpaceReclaimed") or 0)


def container_prune(ctx: Context, opts: Parsed) -> int:
    if not opts.force and not _confirm(
            ctx, "WARNING! This will remove all stopped containers."):
        return 0
    space = _prune_containers(ctx, parse_filters(opts.filter))
    ctx.stdout.write(f"Total reclaimed space: {fmt.human_size(space, 3)}\n")
    return 0


def image_prune(ctx: Context, opts: Parsed) -> int:
    warning = ("WARNING! This will remove all images without at least one container "
               "associated to them." if opts.all else
               "WARNING! This will remove all dangling images.")
    if not opts.force and not _confirm(ctx, warning):
        return 0
    space = _prune_images(ctx, parse_filters(opts.filter), opts.all)
    ctx.stdout.write(f"Total reclaimed space: {fmt.human_size(space, 3)}\n")
    return 0


def system_prune(ctx: Context, opts: Parsed) -> int:
    if not opts.force:
        items = ["all stopped containers", "all networks not used by at least one container"]
        if opts.volumes:
            items.append("all anonymous volumes not used by at least one container")
        items.append("all images without at least one container associated to them"
                     if opts.all else "all dangling images")
        items.append("unused build cache")
        warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
        if not _confirm(ctx, warning):
            return 0
    filters = parse_filters(opts.filter)
    # docker's order: containers first, so that what they held becomes unused
    space = _prune_containers(ctx, filters)
    _prune_networks(ctx, filters)
    if opts.volumes:
        space += _prune_volumes(ctx, filters)
    space += _prune_images(ctx, filters, opts.all)
    ctx.stdout.write(f"Total reclaimed space: {fmt.human_size(space, 3)}\n")
    return 0


# --- update ------------------------------------------------------------------------------


def update(ctx: Context, opts: Parsed) -> int:
    from .run import _cpus, parse_restart, ram_in_bytes

    body: dict[str, Any] = {}
    if opts.cpus:
        body["NanoCpus"] = _cpus(opts.cpus)
    if opts.cpu_shares is not None:
        body["CpuShares"] = opts.cpu_shares
    if opts.cpu_period is not None:
        body["CpuPeriod"] = opts.cpu_period
    if opts.cpu_quota is not None:
        body["CpuQuota"] = opts.cpu_quota
    if opts.cpuset_cpus is not None:
        body["CpusetCpus"] = opts.cpuset_cpus
    if opts.cpuset_mems is not None:
        body["CpusetMems"] = opts.cpuset_mems
    if opts.memory:
        body["Memory"] = ram_in_bytes(opts.memory, "-m, --memory")
    if opts.memory_reservation:
        body["MemoryReservation"] = ram_in_bytes(opts.memory_reservation,
                                                 "--memory-reservation")
    if opts.memory_swap:
        body["MemorySwap"] = -1 if opts.memory_swap == "-1" else ram_in_bytes(
            opts.memory_swap, "--memory-swap")
    if opts.pids_limit is not None:
        body["PidsLimit"] = opts.pids_limit
    if opts.blkio_weight is not None:
        body["BlkioWeight"] = opts.blkio_weight
    if opts.restart:
        body["RestartPolicy"] = parse_restart(opts.restart)
    if not body:
        raise CLIError("you must provide one or more flags when using this command")

    def one(name: str) -> None:
        result = ctx.client.update_container(name, body) or {}
        for warning in result.get("Warnings") or []:
            ctx.stderr.write(f"{warning}\n")

    return for_each(ctx, opts.args, one)

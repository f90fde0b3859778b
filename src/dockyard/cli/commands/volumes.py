"""``volume create|ls|inspect|rm|prune`` (docker CLI 28's requests, output and texts)."""

from __future__ import annotations

from .. import format as fmt
from ..context import CLIError
from .common import for_each, parse_filters

TYPE_CHECKING = False  # typing and re cost every command's start-up
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Parsed

VOLUME_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                  "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS",
                  "Size": "SIZE", "Group": "GROUP", "Availability": "AVAILABILITY",
                  "Status": "STATUS"}
DEFAULT_TABLE = "table {{.Driver}}\t{{.Name}}"
WARN_ANON = "WARNING! This will remove anonymous local volumes not used by at least one container."
WARN_ALL = "WARNING! This will remove all local volumes not used by at least one container."


def _map(values: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        if not key.strip():
            raise CLIError(f'invalid argument "{value}" for "{flag}" flag: invalid label '
                           f"'{value}': empty name", 125)
        out[key] = val
    return out


def create(ctx: Context, opts: Parsed) -> int:
    name = opts.args[0] if opts.args else ""
    body: dict[str, Any] = {"Name": name, "Driver": opts.driver or "local",
                            "DriverOpts": _map(opts.opt, "-o, --opt"),
                            "Labels": _map(opts.label, "--label")}
    volume = ctx.client.create_volume(body) or {}
    ctx.stdout.write(f"{volume.get('Name', name)}\n")
    return 0


def _natural_key(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in split_digits(text)]


def split_digits(text: str) -> list[str]:
    """``re.split(r"(\\d+)", text)``: text and runs of decimal digits, alternating."""
    parts: list[str] = []
    start = i = 0
    while i < len(text):
        if text[i].isdecimal():
            end = i + 1
            while end < len(text) and text[end].isdecimal():
                end += 1
            parts += [text[start:i], text[i:end]]
            start = i = end
        else:
            i += 1
    parts.append(text[start:])
    return parts


def volume_row(v: dict[str, Any]) -> fmt.Row:
    size = (v.get("UsageData") or {}).get("Size")
    return fmt.Row({
        "Name": v.get("Name", ""), "Driver": v.get("Driver", ""),
        "Scope": v.get("Scope", ""), "Mountpoint": v.get("Mountpoint", ""),
        "Labels": fmt.labels_string(v.get("Labels")),
        "Links": str((v.get("UsageData") or {}).get("RefCount", "N/A"))
        if v.get("UsageData") else "N/A",
        "Size": fmt.human_size(size, 3) if isinstance(size, int) and size >= 0 else "N/A",
        "Group": "", "Availability": "", "Status": "",
    }, {"Label": lambda key: (v.get("Labels") or {}).get(key, "")})


def ls(ctx: Context, opts: Parsed) -> int:
    listing = ctx.client.volumes(parse_filters(opts.filter))
    volumes = sorted(listing.get("Volumes") or [],
                     key=lambda v: _natural_key(v.get("Name", "")))
    for warning in listing.get("Warnings") or []:
        ctx.stderr.write(f"{warning}\n")
    template = opts.format or ""
    if opts.quiet and template in ("", "table"):
        template = "{{.Name}}"
    fmt.write(ctx.stdout, template, [volume_row(v) for v in volumes], VOLUME_HEADERS,
              DEFAULT_TABLE)
    return 0


def inspect(ctx: Context, opts: Parsed) -> int:
    from dockyard.client.errors import APIError

    from .inspect import _render

    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            found.append(ctx.client.inspect_volume(name))
        except APIError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
    _render(ctx, opts, found)
    if errors:
        ctx.stderr.write("".join(f"{e}\n" for e in errors))
        return 1
    return 0


def rm(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args,
                    lambda name: ctx.client.remove_volume(name, force=bool(opts.force)))


def prune(ctx: Context, opts: Parsed) -> int:
    from .extras import _confirm

    filters = parse_filters(opts.filter)
    if opts.all:
        if "all" in filters:
            raise CLIError("conflicting options: cannot specify both --all and "
                           "--filter all=1")
        filters["all"] = ["true"]
    if not opts.force and not _confirm(ctx, WARN_ALL if opts.all or "all" in filters
                                       else WARN_ANON):
        return 0
    report = ctx.client.prune_volumes(filters) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Volumes:\n" + "".join(f"{v}\n" for v in deleted) + "\n")
    ctx.stdout.write(f"Total reclaimed space: "
                     f"{fmt.human_size(report.get('SpaceReclaimed') or 0)}\n")
    return 0

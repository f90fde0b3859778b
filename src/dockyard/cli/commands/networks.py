"""``network create|ls|inspect|rm|prune|connect|disconnect`` (docker CLI 28's requests,
output and error texts)."""

from __future__ import annotations

from .. import format as fmt
from ..context import CLIError
from .common import parse_filters

# csv, ipaddress and datetime are imported where they are used: `network ls` needs none
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Parsed

NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                   "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
                   "CreatedAt": "CREATED AT"}
DEFAULT_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one "
                 "container.")


def _strings(values: list[str]) -> list[str]:
    """pflag's stringSlice: every value is a CSV line."""
    out: list[str] = []
    for value in values:
        import csv

        out += next(csv.reader([value])) if value else []
    return out


def _map(values: list[str]) -> dict[str, str]:
    """opts.MapOpts: ``k=v`` (``k`` alone: empty value)."""
    out: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        out[key] = val
    return out


def _labels(values: list[str]) -> dict[str, str]:
    """opts.ValidateLabel + ConvertKVStringsToMap."""
    usage = ("\n\nUsage:  dockyard network create [OPTIONS] NETWORK\n\n"
             "Run 'dockyard network create --help' for more information")
    for value in values:
        key = value.partition("=")[0].strip()
        why = ""
        if not key:
            why = f"invalid label '{value}': empty name"
        elif any(c.isspace() for c in key):
            why = f"label '{key}' contains whitespaces"
        if why:
            raise CLIError(f'invalid argument "{value}" for "--label" flag: {why}{usage}', 125)
    return _map(values)


def _subnet_matches(subnet: str, data: str) -> bool:
    import ipaddress

    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise CLIError(f"invalid subnet: invalid CIDR address: {subnet}") from None
    if "/" in data:
        try:
            ip = ipaddress.ip_interface(data).ip
        except ValueError:
            raise CLIError(f"invalid CIDR address: {data}") from None
    else:
        try:
            ip = ipaddress.ip_address(data)
        except ValueError:
            return False
    return ip.version == net.version and ip in net


def ipam_config(subnets: list[str], ip_ranges: list[str], gateways: list[str],
                aux: dict[str, str]) -> list[dict[str, Any]]:
    """docker's createIPAMConfig: one entry per subnet, with its range, gateway and
    auxiliary addresses (each must fall inside exactly the subnet it names)."""
    import ipaddress

    if len(subnets) < len(ip_ranges) or len(subnets) < len(gateways):
        raise CLIError("every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict[str, Any]] = {}
    for s in subnets:
        for k in data:
            if _subnet_matches(s, k) or _subnet_matches(k, s):
                raise CLIError("multiple overlapping subnet configuration is not supported")
        data[s] = {"Subnet": s, "AuxiliaryAddresses": {}}
    for r in ip_ranges:
        match = False
        for s in subnets:
            try:
                ipaddress.ip_interface(r)
            except ValueError:
                raise CLIError(f"invalid CIDR address: {r}") from None
            if not _subnet_matches(s, r):
                continue
            if data[s].get("IPRange"):
                raise CLIError(f"cannot configure multiple ranges ({r}, {data[s]['IPRange']})"
                               f" on the same subnet ({s})")
            data[s]["IPRange"] = r
            match = True
        if not match:
            raise CLIError(f"no matching subnet for range {r}")
    for g in gateways:
        match = False
        for s in subnets:
            if not _subnet_matches(s, g):
                continue
            if data[s].get("Gateway"):
                raise CLIError(f"cannot configure multiple gateways ({g}, "
                               f"{data[s]['Gateway']}) for the same subnet ({s})")
            data[s]["Gateway"] = g
            match = True
        if not match:
            raise CLIError(f"no matching subnet for gateway {g}")
    for key, address in aux.items():
        match = False
        for s in subnets:
            if _subnet_matches(s, address):
                data[s]["AuxiliaryAddresses"][key] = address
                match = True
        if not match:
            raise CLIError(f"no matching subnet for aux-address {address}")
    out = []
    for entry in data.values():
        item = {"Subnet": entry["Subnet"]}
        for field in ("IPRange", "Gateway"):
            if entry.get(field):
                item[field] = entry[field]
        if entry["AuxiliaryAddresses"]:
            item["AuxiliaryAddresses"] = entry["AuxiliaryAddresses"]
        out.append(item)
    return out


def create_body(opts: Parsed, name: str) -> dict[str, Any]:
    """The ``POST /networks/create`` body docker sends for these flags."""
    body: dict[str, Any] = {"Driver": opts.driver or "bridge", "Scope": opts.scope or ""}
    if "ipv4" in opts.given:
        body["EnableIPv4"] = bool(opts.ipv4)
    if "ipv6" in opts.given:
        body["EnableIPv6"] = bool(opts.ipv6)
    body["IPAM"] = {
        "Driver": opts.ipam_driver or "default", "Options": _map(opts.ipam_opt),
        "Config": ipam_config(_strings(opts.subnet), _strings(opts.ip_range),
                              _strings(opts.gateway), _map(opts.aux_address))}
    body.update({
        "Internal": bool(opts.internal), "Attachable": bool(opts.attachable),
        "Ingress": bool(opts.ingress), "ConfigOnly": bool(opts.config_only),
        "ConfigFrom": {"Network": opts.config_from} if opts.config_from else None,
        "Options": _map(opts.opt), "Labels": _labels(opts.label), "Name": name})
    return body


def create(ctx: Context, opts: Parsed) -> int:
    result = ctx.client.create_network(create_body(opts, opts.args[0])) or {}
    ctx.stdout.write(f"{result.get('Id', '')}\n")
    return 0


def go_time_string(created: str) -> str:
    """Go's time.Time.String() of an RFC 3339 timestamp as the API sends it:
    ``2026-11-28 15:52:52.123456789 +0000 UTC``."""
    if not created:
        return "0001-01-01 00:00:00 +0000 UTC"
    text = created.replace("Z", "+00:00")
    frac = ""
    main, dot, rest = text.partition(".")
    if dot:
        digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]
        frac = "." + digits.rstrip("0") if digits.rstrip("0") else ""
        text = main + rest[len(digits):]
    from datetime import datetime
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return created
    offset = stamp.strftime("%z") or "+0000"
    zone = "UTC" if offset == "+0000" else offset
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + f"{frac} {offset} {zone}"


def network_row(n: dict[str, Any], trunc: bool = True) -> fmt.Row:
    labels = n.get("Labels") or {}
    nid = n.get("Id", "")
    return fmt.Row({
        "CreatedAt": lambda: go_time_string(n.get("Created", "")),
        "Driver": n.get("Driver", ""),
        "ID": nid[:12] if trunc else nid,
        "IPv4": "true" if n.get("EnableIPv4") else "false",
        "IPv6": "true" if n.get("EnableIPv6") else "false",
        "Internal": "true" if n.get("Internal") else "false",
        "Labels": fmt.labels_string(labels) if n.get("Labels") is not None else "",
        "Name": n.get("Name", ""),
        "Scope": n.get("Scope", ""),
    }, {"Label": lambda key: labels.get(key, "")})


def ls(ctx: Context, opts: Parsed) -> int:
    from ..netopts import natural_key

    listing = ctx.client.networks(parse_filters(opts.filter))
    listing.sort(key=lambda n: natural_key(n.get("Name", "")))
    template = opts.format or ""
    if opts.quiet and template in ("", "table"):
        template = "{{.ID}}"
    rows = [network_row(n, trunc=not opts.no_trunc) for n in listing]
    fmt.write(ctx.stdout, template, rows, NETWORK_HEADERS, DEFAULT_TABLE)
    return 0


def inspect(ctx: Context, opts: Parsed) -> int:
    from dockyard.client.errors import APIError

    from .inspect import _render

    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            found.append(ctx.client.inspect_network(name, verbose=bool(opts.verbose)))
        except APIError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
    _render(ctx, opts, found)
    if errors:
        ctx.stderr.write("".join(f"{e}\n" for e in errors))
        return 1
    return 0


def rm(ctx: Context, opts: Parsed) -> int:
    from dockyard.client.errors import APIError

    status = 0
    for name in opts.args:
        try:
            ctx.client.remove_network(name)
        except APIError as exc:
            if opts.force and exc.status == 404:
                continue
            ctx.stderr.write(f"Error response from daemon: {exc.message}\n")
            status = 1
            continue
        ctx.stdout.write(f"{name}\n")
    if status:
        ctx.stderr.write("exit status 1\n")  # docker's cli.StatusError text
    return status


def prune(ctx: Context, opts: Parsed) -> int:
    from .extras import _confirm

    if not opts.force and not _confirm(ctx, PRUNE_WARNING):
        return 0
    report = ctx.client.prune_networks(parse_filters(opts.filter)) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted) + "\n")
    return 0


def connect(ctx: Context, opts: Parsed) -> int:
    from ..netopts import endpoint_settings, validate_link

    network, container = opts.args
    driver_opts: dict[str, str] = {}
    for item in _strings(opts.driver_opt):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise CLIError("invalid key/value pair format in driver options")
        driver_opts[key.strip()] = value.strip()
    try:
        links = [validate_link(v) for v in opts.link]
    except ValueError as exc:
        raise CLIError(f"{exc}\n\nUsage:  dockyard network connect [OPTIONS] NETWORK CONTAINER"
                       "\n\nRun 'dockyard network connect --help' for more information",
                       125) from None
    ipam: dict[str, Any] = {}
    if opts.ip:
        ipam["IPv4Address"] = opts.ip
    if opts.ip6:
        ipam["IPv6Address"] = opts.ip6
    if opts.link_local_ip:
        ipam["LinkLocalIPs"] = _strings(opts.link_local_ip)
    endpoint = endpoint_settings(IPAMConfig=ipam, Links=links or None,
                                 Aliases=_strings(opts.alias), DriverOpts=driver_opts,
                                 GwPriority=opts.gw_priority or 0)
    ctx.client.connect_network(network, container, endpoint)
    return 0


def disconnect(ctx: Context, opts: Parsed) -> int:
    network, container = opts.args
    ctx.client.disconnect_network(network, container, force=bool(opts.force))
    return 0

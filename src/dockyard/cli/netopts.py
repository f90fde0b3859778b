"""The docker CLI's network and port options as pure functions (docker CLI 28.2.2 with
go-connections/nat): ``-p``/``--expose`` into ``ExposedPorts`` + ``PortBindings``,
``--network``/``--network-alias``/``--ip``/``--ip6``/``--link``/``--mac-address`` into
``HostConfig.NetworkMode`` + ``NetworkingConfig.EndpointsConfig``, and the two ways ports
are shown (``ps``'s PORTS column, ``port``'s lines).

Two kinds of error, as docker reports them differently: :class:`FlagValueError` is a flag
that does not parse (``invalid argument "x" for "--network" flag: ...`` with the usage),
:class:`NetOptError` a combination that the run/create parse step rejects
(``docker: invalid containerPort: x``)."""

from __future__ import annotations

# `ps` (its PORTS column) and `network ls` (natural order) come here: csv, ipaddress, re,
# functools and typing cost start-up and are imported only by what needs them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

PROTOS = ("tcp", "udp", "sctp")
PREDEFINED_MODES = ("default", "bridge", "host", "none")


class NetOptError(ValueError):
    """Rejected by docker's parse(): printed as ``docker: MESSAGE``, exit 125."""


class FlagValueError(ValueError):
    """A flag value that does not parse: pflag's ``invalid argument`` message."""

    def __init__(self, value: str, flag: str, why: str) -> None:
        super().__init__(f'invalid argument "{value}" for "{flag}" flag: {why}')


# --- ports (go-connections/nat) ----------------------------------------------------------


def _parse_uint16(text: str) -> int:
    """strconv.ParseUint(text, 10, 16) with Go's error texts."""
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 0xFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(ports: str) -> tuple[int, int]:
    """nat.ParsePortRange: ``80`` -> (80, 80), ``80-90`` -> (80, 90)."""
    if ports == "":
        raise ValueError("empty string specified for ports")
    if "-" not in ports:
        value = _parse_uint16(ports)
        return value, value
    parts = ports.split("-")  # like Go: a third part is ignored
    start, end = _parse_uint16(parts[0]), _parse_uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {ports}")
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort: ``80/udp`` -> ("udp", "80"), ``80`` -> ("tcp", "80")."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        return "", "", parts[0]
    if n == 2:
        return "", parts[0], parts[1]
    if n == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _valid_ip(text: str) -> bool:
    if "%" in text:  # Go's net.ParseIP takes no zone
        return False
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_port_spec(raw: str) -> list[tuple[str, dict[str, str]]]:
    """nat.ParsePortSpec: one ``-p`` value -> [("80/tcp", {"HostIp", "HostPort"}), ...]."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("["):
        if "]" not in ip or not ip.endswith("]"):
            raise NetOptError(f"invalid IP address {ip}: address {ip}:: missing ']' in address")
        ip = ip[1:-1]
    if ip and not _valid_ip(ip):
        raise NetOptError(f"invalid IP address: {ip}")
    if container_port == "":
        raise NetOptError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except ValueError:
        raise NetOptError(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError:
            raise NetOptError(f"invalid hostPort: {host_port}") from None
        # A host range with one container port is the range to pick a free port from.
        if end - start != host_end - host_start and end != start:
            raise NetOptError("invalid ranges specified for container and host Ports: "
                              f"{container_port} and {host_port}")
    if proto.lower() not in PROTOS:
        raise NetOptError(f"invalid proto: {proto}")
    out = []
    for i in range(end - start + 1):
        hp = str(host_start + i) if host_port else ""
        if start == end and host_start != host_end:
            hp = f"{hp}-{host_end}"
        out.append((f"{start + i}/{proto.lower()}", {"HostIp": ip, "HostPort": hp}))
    return out


def standard_notation(values: Iterable[str]) -> list[str]:
    """docker's convertToStandardNotation: ``target=80,published=8080,protocol=udp`` ->
    ``8080:80/udp``; other values unchanged."""
    out = []
    for value in values:
        if "=" not in value:
            out.append(value)
            continue
        params = {"protocol": "tcp"}
        for param in value.split(","):
            key, eq, val = param.partition("=")
            if not eq or not key:
                raise NetOptError("invalid publish opts format (should be name=value but got "
                                  f"'{param}')")
            params[key] = val
        out.append(f"{params.get('published', '')}:{params.get('target', '')}/"
                   f"{params['protocol']}")
    return out


def parse_publish(values: Iterable[str]) -> tuple[dict[str, dict], dict[str, list]]:
    """``-p`` values -> (ExposedPorts, PortBindings) as the docker CLI sends them."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for raw in standard_notation(values):
        for port, binding in parse_port_spec(raw):
            exposed.setdefault(port, {})
            bindings.setdefault(port, []).append(binding)
    return exposed, bindings


def parse_expose(values: Iterable[str], exposed: dict[str, dict]) -> dict[str, dict]:
    """Adds ``--expose PORT[-PORT][/PROTO]`` to ``exposed`` (the proto is not checked, as
    in docker)."""
    out = dict(exposed)
    for value in values:
        if ":" in value:
            raise NetOptError(f"invalid port format for --expose: {value}")
        proto, port = split_proto_port(value)
        try:
            start, end = parse_port_range(port)
        except ValueError as err:
            raise NetOptError(f"invalid range format for --expose: {value}, error: {err}") \
                from None
        for number in range(start, end + 1):
            out.setdefault(f"{number}/{proto}", {})
    return out


# --- networks ----------------------------------------------------------------------------


def is_user_defined(mode: str) -> bool:
    """container.NetworkMode.IsUserDefined."""
    return mode not in PREDEFINED_MODES and not mode.startswith("container:")


_LONG_SYNTAX = r"\w+=\w+(,\w+=\w+)*"


def parse_network_flag(value: str, flag: str = "--network") -> dict[str, Any]:
    """opts.NetworkOpt.Set: ``NAME`` or ``name=N,alias=A,ip=...,driver-opt=k=v,...``."""
    import csv
    import re

    if not re.search(_LONG_SYNTAX, value):
        return {"Target": value}
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as err:
        raise FlagValueError(value, flag, str(err)) from None
    opt: dict[str, Any] = {"Target": "", "Aliases": []}
    for field in fields:
        key, eq, val = field.lower().partition("=")
        if not eq or not key:
            raise FlagValueError(value, flag, f"invalid field {field}")
        key, val = key.strip(), val.strip()
        if key == "name":
            opt["Target"] = val
        elif key == "alias":
            opt["Aliases"].append(val)
        elif key == "ip":
            opt["IPv4Address"] = val
        elif key == "ip6":
            opt["IPv6Address"] = val
        elif key == "mac-address":
            opt["MacAddress"] = val
        elif key == "link-local-ip":
            opt.setdefault("LinkLocalIPs", []).append(val)
        elif key == "driver-opt":
            dkey, deq, dval = val.partition("=")
            if not deq or not dkey:
                raise FlagValueError(value, flag,
                                     "invalid key value pair format in driver options")
            opt.setdefault("DriverOpts", {})[dkey.strip()] = dval.strip()
        elif key == "gw-priority":
            try:
                opt["GwPriority"] = int(val)
            except ValueError:
                raise FlagValueError(value, flag,
                                     f"invalid gw-priority ({val}): invalid syntax") from None
        else:
            raise FlagValueError(value, flag, f"invalid field key {key}")
    if not opt["Target"]:
        raise FlagValueError(value, flag, "network name/id is not specified")
    return opt


def validate_link(value: str) -> str:
    """opts.ValidateLink: ``NAME`` or ``NAME:ALIAS``."""
    if value == "":
        raise FlagValueError(value, "--link", "empty string specified for links")
    if len(value.split(":", 2)) > 2:
        raise FlagValueError(value, "--link", f"bad format for links: {value}")
    return value


_MAC = r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2})*$"
_MAC_DOTS = r"^[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4})+$"


def valid_mac(text: str) -> bool:
    """net.ParseMAC: 6, 8 or 20 octets as ``aa:bb..``, ``aa-bb-..`` or ``aabb.ccdd..``."""
    import re

    text = text.strip()
    if re.match(_MAC, text):
        return len(re.split(r"[:-]", text)) in (6, 8, 20)
    if re.match(_MAC_DOTS, text):
        return len(text.split(".")) * 2 in (6, 8, 20)
    return False


def endpoint_settings(**fields: Any) -> dict[str, Any]:
    """network.EndpointSettings as the Go client marshals it (every field, zero values)."""
    ep: dict[str, Any] = {
        "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
        "DriverOpts": None, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
        "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}
    ep.update(fields)
    return ep


def _attachment_endpoint(n: dict[str, Any]) -> dict[str, Any] | None:
    """parseNetworkAttachmentOpt; None when nothing is set (docker's zero EndpointSettings)."""
    target = n["Target"]
    if not target.strip():
        raise NetOptError("no name set for network")
    if not is_user_defined(target):
        if n.get("Aliases"):
            raise NetOptError("network-scoped aliases are only supported for user-defined "
                              "networks")
        if n.get("Links"):
            raise NetOptError("links are only supported for user-defined networks")
    fields: dict[str, Any] = {"GwPriority": n.get("GwPriority", 0)}
    if n.get("Aliases"):
        fields["Aliases"] = list(n["Aliases"])
    if n.get("DriverOpts"):
        fields["DriverOpts"] = dict(n["DriverOpts"])
    if n.get("Links"):
        fields["Links"] = list(n["Links"])
    v4, v6, lla = n.get("IPv4Address", ""), n.get("IPv6Address", ""), n.get("LinkLocalIPs")
    if v4 or v6 or lla:
        ipam: dict[str, Any] = {}
        if v4:
            ipam["IPv4Address"] = v4
        if v6:
            ipam["IPv6Address"] = v6
        if lla:
            ipam["LinkLocalIPs"] = list(lla)
        fields["IPAMConfig"] = ipam
    if n.get("MacAddress"):
        if not valid_mac(n["MacAddress"]):
            raise NetOptError(f"{n['MacAddress']} is not a valid mac address")
        fields["MacAddress"] = n["MacAddress"]
    ep = endpoint_settings(**fields)
    return None if ep == endpoint_settings() else ep


def _apply_container_options(n: dict[str, Any], *, aliases: Sequence[str],
                             links: Sequence[str], ip: str, ip6: str, mac: str,
                             link_local_ips: Sequence[str]) -> dict[str, Any]:
    n = dict(n)
    conflicts = ((aliases, "Aliases", "--network-alias", "per-network alias"),
                 (links, "Links", "--link", "per-network links"),
                 (ip, "IPv4Address", "--ip", "per-network IPv4 address"),
                 (ip6, "IPv6Address", "--ip6", "per-network IPv6 address"),
                 (mac, "MacAddress", "--mac-address", "per-network MAC address"))
    for mine, field, flag, theirs in conflicts:
        if n.get(field) and mine:
            raise NetOptError(f"conflicting options: cannot specify both {flag} and {theirs}")
    if n.get("LinkLocalIPs") and link_local_ips:
        raise NetOptError("conflicting options: cannot specify both --link-local-ip and "
                          "per-network link-local IP addresses")
    if aliases:
        n["Aliases"] = list(aliases)
    # On a user-defined network --link is an endpoint option (an alias); on the default
    # bridge it is a legacy link (HostConfig.Links only).
    if is_user_defined(n["Target"]) and links:
        n["Links"] = list(links)
    if ip:
        n["IPv4Address"] = ip
    if ip6:
        n["IPv6Address"] = ip6
    if mac:
        n["MacAddress"] = mac
    if link_local_ips:
        n["LinkLocalIPs"] = list(link_local_ips)
    return n


def parse_networks(networks: Sequence[str], *, aliases: Sequence[str] = (),
                   links: Sequence[str] = (), ip: str = "", ip6: str = "", mac: str = "",
                   link_local_ips: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """--network (repeatable) and the per-container network flags -> (HostConfig.NetworkMode,
    NetworkingConfig.EndpointsConfig), as docker's parseNetworkOpts."""
    opts = [parse_network_flag(v) for v in networks]
    extra = {"aliases": aliases, "links": links, "ip": ip or "", "ip6": ip6 or "",
             "mac": mac or "", "link_local_ips": link_local_ips}
    endpoints: dict[str, Any] = {}
    if not opts:
        n = _apply_container_options({"Target": "default"}, **extra)
        endpoints["default"] = _attachment_endpoint(n) or endpoint_settings()
        return "default", endpoints
    user = other = False
    for i, n in enumerate(opts):
        if is_user_defined(n["Target"]):
            user = True
        else:
            other = True
        if i == 0:
            n = _apply_container_options(n, **extra)
        ep = _attachment_endpoint(n)
        if n["Target"] in endpoints:
            raise NetOptError(f'network "{n["Target"]}" is specified multiple times')
        # one network without options: no endpoint config (the daemon makes one)
        if i == 0 and len(opts) == 1 and ep is None:
            continue
        endpoints[n["Target"]] = ep or endpoint_settings()
    if user and other:
        raise NetOptError("conflicting options: cannot attach both user-defined and "
                          "non-user-defined network-modes")
    return opts[0]["Target"], endpoints


# --- showing ports -----------------------------------------------------------------------


def _join_host_port(host: str, port: str | int) -> str:
    """net.JoinHostPort."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def display_ports(ports: Iterable[dict[str, Any]] | None) -> str:
    """formatter.DisplayablePorts: the PORTS column of ``ps`` (consecutive ports as ranges:
    ``0.0.0.0:8080->80/tcp, 443-444/tcp``)."""
    items = sorted(ports or [], key=lambda p: (int(p.get("PrivatePort") or 0),
                                               p.get("IP") or "",
                                               int(p.get("PublicPort") or 0),
                                               p.get("Type") or ""))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    host_mappings: list[str] = []
    for p in items:
        current = int(p.get("PrivatePort") or 0)
        public = int(p.get("PublicPort") or 0)
        kind = p.get("Type") or ""
        key = kind
        if p.get("IP"):
            if public != current:
                host_mappings.append(f"{_join_host_port(p['IP'], public)}->{current}/{kind}")
                continue
            key = f"{p['IP']}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
            order.append(key)
            continue
        if current == group[1] + 1:
            group[1] = current
            continue
        result.append(_form_group(key, group[0], group[1]))
        groups[key] = [current, current]
    for key in order:
        first, last = groups[key]
        result.append(_form_group(key, first, last))
    return ", ".join(result + host_mappings)


def _form_group(key: str, start: int, last: int) -> str:
    parts = key.split("/")
    kind, ip = parts[0], ""
    if len(parts) > 1:
        ip, kind = parts[0], parts[1]
    group = str(start) if start == last else f"{start}-{last}"
    if ip:
        group = f"{_join_host_port(ip, group)}->{group}"
    return f"{group}/{kind}"


def natural_less(a: str, b: str) -> bool:
    """fvbommel/sortorder.NaturalLess: digit runs compare as numbers."""
    i = j = 0
    while i < len(a) and j < len(b):
        c1, c2 = a[i], b[j]
        d1, d2 = c1.isdigit(), c2.isdigit()
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1 < c2
            i += 1
            j += 1
            continue
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        nz1, nz2 = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        if i - nz1 != j - nz2:
            return i - nz1 < j - nz2
        if a[nz1:i] != b[nz2:j]:
            return a[nz1:i] < b[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(a) < len(b)


class _Natural:
    """``functools.cmp_to_key`` of the natural order (without importing functools)."""

    __slots__ = ("text",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, text: str) -> None:
        self.text = text

    def __lt__(self, other: _Natural) -> bool:
        return natural_less(self.text, other.text)

    def __gt__(self, other: _Natural) -> bool:
        return natural_less(other.text, self.text)

    def __le__(self, other: _Natural) -> bool:
        return not natural_less(other.text, self.text)

    def __ge__(self, other: _Natural) -> bool:
        return not natural_less(self.text, other.text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Natural):
            return NotImplemented
        return not (natural_less(self.text, other.text) or natural_less(other.text, self.text))


def natural_key(text: str) -> Any:
    return _Natural(text)


def port_lines(ports: dict[str, Any] | None, want: str | None = None) -> list[str]:
    """``docker port``: every mapping as ``80/tcp -> 0.0.0.0:8080``, or for ``want``
    (``80``, ``80/udp``) the host addresses; naturally sorted. A missing mapping is an
    empty list."""
    ports = ports or {}
    out: list[str] = []
    if want is not None:
        port, _, proto = want.partition("/")
        for b in ports.get(f"{port}/{proto or 'tcp'}") or []:
            out.append(_join_host_port(b.get("HostIp") or "", b.get("HostPort") or ""))
    else:
        for key, bindings in ports.items():
            for b in bindings or []:
                host = _join_host_port(b.get("HostIp") or "", b.get("HostPort") or "")
                out.append(f"{key} -> {host}")
    return sorted(out, key=natural_key)

"""Published ports: parsing and planning (pure) and host-port reservations (thin effects).

Shapes are Docker's: ``ExposedPorts`` ``{"80/tcp": {}}``, ``PortBindings``
``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`` where HostPort may be "" or "0" (any free
port), "8080", or a range "8000-8010" (the first free one of it; the CLI turns
``8000-8010:80-90`` into one binding per port), and ``PublishAllPorts`` (-P: every exposed port
without a binding gets a free host port). Free ports come from the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range), handed out in order after the last one given, as
Docker's port allocator does.

Each published port becomes one :class:`PortMapping` per address family served: the kernel DNATs
(see nat.py) and cannot translate between IPv4 and IPv6, and dockyard has no userland proxy, so a
binding on all addresses (HostIp "") serves IPv6 only when the container has an IPv6 address on
that network, and not from the host's ``::1`` (IPv6 has no ``route_localnet``: a packet from
``::1`` never leaves ``lo``), so a binding on ``::1`` does not answer. ``NetworkSettings.Ports``
reports what is served: ``0.0.0.0`` always, plus ``::``
when the container has IPv6. Docker 28 also lists ``::`` for IPv4-only containers, because its
docker-proxy forwards IPv6 to them; we do not list an address that would not answer.

:class:`PortReservations` holds one bound socket per (family, host address, port, protocol) while
a container is attached (TCP: bound, never listening; UDP: bound), so no other program, and no
other container, can take the port; DNAT takes the traffic before it could reach the socket.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidParameter, NetworkError

PROTOS = ("tcp", "udp", "sctp")
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_RANGE = (49153, 65535)  # Docker's fallback when the file cannot be read


class PortSpecError(InvalidParameter):
    """A -p/--expose/PortBindings value Docker would reject (message is Docker's text)."""


class PortAllocationError(NetworkError):
    """The host port cannot be had (Docker answers 500 for this)."""

    status = 500


@dataclass(frozen=True)
class PortMapping:
    proto: str  # "tcp" | "udp" | "sctp"
    host_ip: str  # "" = all addresses of container_ip's family; "0.0.0.0", "127.0.0.1", "::"...
    host_port: int
    container_ip: str
    container_port: int
    bridge: str


@dataclass(frozen=True)
class PortRequest:
    """One wanted binding, before a host port is chosen (0 = any free port)."""

    proto: str
    container_port: int
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0  # last port of a HostPort range; == host_port otherwise

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


# --- Docker's parsers (go-connections/nat), with Docker's messages ---------------------------


def split_proto_port(raw: str) -> tuple[str, str]:
    """("80", "tcp") from "80/tcp"; tcp when no protocol; ("", "") for "" (nat.SplitProtoPort)."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return parts[0], "tcp"
    return parts[0], parts[1]


def _uint16(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(ports: str) -> tuple[int, int]:
    """(start, end) of "80" or "80-90" (0-65535); ValueError with Go's text (nat.ParsePortRange)."""
    if not ports:
        raise ValueError("empty string specified for ports")
    if "-" not in ports:
        value = _uint16(ports)
        return value, value
    parts = ports.split("-")
    start, end = _uint16(parts[0]), _uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {ports}")
    return start, end


def port_key(raw: str) -> str:
    """The canonical ExposedPorts/PortBindings key: "80" -> "80/tcp", protocol lowercased."""
    port, proto = split_proto_port(raw)
    return f"{port}/{proto.lower()}" if port else raw


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """One ``-p [ip:][hostPort:]containerPort[/proto]`` value -> [(key, PortBinding)]
    (nat.ParsePortSpec): a range of container ports gives one binding per port."""
    parts = spec.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    container, proto = split_proto_port(container)
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise PortSpecError(f"invalid IP address {ip}: missing ']' in address")
        ip = ip[1:-1]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise PortSpecError(f"invalid IP address: {ip}") from None
    if not container:
        raise PortSpecError(f"no port specified: {spec}<empty>")
    try:
        start, end = parse_port_range(container)
    except ValueError:
        raise PortSpecError(f"invalid containerPort: {container}") from None
    hstart = hend = 0
    if host:
        try:
            hstart, hend = parse_port_range(host)
        except ValueError:
            raise PortSpecError(f"invalid hostPort: {host}") from None
        if end - start != hend - hstart and end != start:
            raise PortSpecError(
                f"invalid ranges specified for container and host Ports: {container} and {host}"
            )
    proto = proto.lower()
    if proto not in PROTOS:
        raise PortSpecError(f"invalid proto: {proto}")
    out = []
    for i in range(end - start + 1):
        host_port = str(hstart + i) if host else ""
        if start == end and hstart != hend:  # one container port, a host range to pick from
            host_port = f"{hstart}-{hend}"
        out.append((f"{start + i}/{proto}", {"HostIp": ip, "HostPort": host_port}))
    return out


def parse_publish_specs(
    specs: Iterable[str],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """``-p`` values -> (ExposedPorts, PortBindings) as the CLI sends them (nat.ParsePortSpecs)."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        for key, binding in parse_publish(spec):
            exposed.setdefault(key, {})
            if binding not in bindings.setdefault(key, []):
                bindings[key].append(binding)
    return exposed, bindings


def parse_expose(spec: str) -> list[str]:
    """One ``--expose`` value ("80", "80/udp", "8000-8010/tcp") -> ExposedPorts keys."""
    if ":" in spec:
        raise PortSpecError(f"invalid port format for --expose: {spec}")
    port, proto = split_proto_port(spec)
    try:
        start, end = parse_port_range(port)
    except ValueError as error:
        raise PortSpecError(f"invalid range format for --expose: {spec}, error: {error}") from None
    return [f"{p}/{proto.lower()}" for p in range(start, end + 1)]


def _spec_error(value: str) -> PortSpecError:
    return PortSpecError(f'invalid port specification: "{value}"')


def _container_port(key: str) -> tuple[int, str]:
    port, proto = split_proto_port(key)
    try:
        number = _uint16(port)
    except ValueError:
        raise _spec_error(port) from None
    if number == 0:
        raise _spec_error(port)
    proto = proto.lower()
    if proto not in PROTOS:
        raise PortSpecError(f"invalid proto: {proto}")
    return number, proto


def _host_ports(value: str) -> tuple[int, int]:
    if value in ("", "0"):
        return 0, 0
    try:
        start, end = parse_port_range(value)
    except ValueError:
        raise _spec_error(value) from None
    if start == 0:
        raise _spec_error(value)
    return start, end


def _host_ip(value: str) -> str:
    if not value:
        return ""
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise PortSpecError(f"invalid IP address: {value}") from None


def validate_port_bindings(bindings: Mapping[str, Any] | None) -> None:
    """The daemon's check at create: Docker's "invalid port specification" errors (400)."""
    plan_requests(bindings, None, False)


def plan_requests(
    bindings: Mapping[str, Any] | None,
    exposed: Mapping[str, Any] | None,
    publish_all: bool,
) -> list[PortRequest]:
    """HostConfig.PortBindings (+ ExposedPorts with PublishAllPorts) -> the wanted bindings, in
    port order (pure; raises PortSpecError with Docker's text)."""
    out: list[PortRequest] = []
    seen: set[str] = set()
    for key in sorted(bindings or {}, key=_sort_key):
        port, proto = _container_port(key)
        seen.add(f"{port}/{proto}")
        for binding in (bindings or {})[key] or []:
            binding = binding or {}
            start, end = _host_ports(str(binding.get("HostPort") or ""))
            host_ip = _host_ip(str(binding.get("HostIp") or ""))
            out.append(PortRequest(proto, port, host_ip, start, end))
        if publish_all and not (bindings or {})[key]:
            out.append(PortRequest(proto, port))
    if publish_all:
        for key in sorted(exposed or {}, key=_sort_key):
            port, proto = _container_port(key)
            if f"{port}/{proto}" not in seen:
                seen.add(f"{port}/{proto}")
                out.append(PortRequest(proto, port))
    return out


def _sort_key(key: str) -> tuple[int, str]:
    port, proto = split_proto_port(key)
    return (int(port) if port.isdigit() else -1, proto)


def port_range(path: Path = PORT_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range, Docker's default when it cannot be read."""
    try:
        low, high = (int(x) for x in path.read_text().split()[:2])
    except (OSError, ValueError):
        return DEFAULT_RANGE
    return (low, high) if 0 < low <= high <= 65535 else DEFAULT_RANGE


# --- inspect / ps rendering (pure) -----------------------------------------------------------


def _shown_ip(m: PortMapping) -> str:
    if m.host_ip:
        return m.host_ip
    return "0.0.0.0" if ipaddress.ip_address(m.container_ip).version == 4 else "::"


def render_ports(
    exposed: Iterable[str], mappings: Sequence[PortMapping]
) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: every exposed (or published) port, ``null`` when not published,
    else its bindings, IPv4 first (pure)."""
    out: dict[str, list[dict[str, str]] | None] = {port_key(k): None for k in exposed}
    ordered = sorted(mappings, key=lambda m: ipaddress.ip_address(m.container_ip).version)
    for m in ordered:
        entry = {"HostIp": _shown_ip(m), "HostPort": str(m.host_port)}
        entries = out.get(f"{m.container_port}/{m.proto}") or []
        if entry not in entries:
            entries.append(entry)
        out[f"{m.container_port}/{m.proto}"] = entries
    return dict(sorted(out.items()))


def summary_ports(exposed: Iterable[str], mappings: Sequence[PortMapping]) -> list[dict[str, Any]]:
    """``GET /containers/json`` Ports: [{IP, PrivatePort, PublicPort, Type}] (pure)."""
    out: list[dict[str, Any]] = []
    for key, entries in render_ports(exposed, mappings).items():
        port, proto = split_proto_port(key)
        if not entries:
            out.append({"PrivatePort": int(port), "Type": proto})
            continue
        for e in entries:
            out.append(
                {"IP": e["HostIp"], "PrivatePort": int(port),
                 "PublicPort": int(e["HostPort"]), "Type": proto}
            )
    return out


# --- reservations (effects) ------------------------------------------------------------------


_SOCK = {"tcp": (socket.SOCK_STREAM, 0), "udp": (socket.SOCK_DGRAM, 0),
         "sctp": (socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))}


def _bind(family: int, proto: str, ip: str, port: int) -> socket.socket | None:
    """A bound socket holding (ip, port, proto); None when the kernel has no such protocol
    (SCTP without its module): there is nothing to hold then. OSError EADDRINUSE when taken."""
    kind, number = _SOCK[proto]
    try:
        sock = socket.socket(family, kind, number)
    except OSError as error:
        if error.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EAFNOSUPPORT):
            return None
        raise
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Held:
    mapping: PortMapping
    sock: socket.socket | None


def _family(ip: str) -> int:
    return 4 if ipaddress.ip_address(ip).version == 4 else 6


def _overlaps(a: PortMapping, b: PortMapping) -> bool:
    """Would a and b fight over the same host port (same family and protocol, one address of
    them being the wildcard or both equal)?"""
    if a.proto != b.proto or a.host_port != b.host_port:
        return False
    fa, fb = _family(a.container_ip), _family(b.container_ip)
    ia, ib = a.host_ip or ("0.0.0.0", "::")[fa == 6], b.host_ip or ("0.0.0.0", "::")[fb == 6]
    if _family(ia) != _family(ib):
        return False
    return ia == ib or ipaddress.ip_address(ia).is_unspecified or ipaddress.ip_address(
        ib
    ).is_unspecified


class PortReservations:
    """Host ports held for containers, by owner (a container id); thread-safe."""

    def __init__(self, ephemeral: tuple[int, int] | None = None, bind=_bind) -> None:
        self._range = ephemeral or port_range()
        self._bind = bind
        self._lock = threading.Lock()
        self._held: dict[str, list[_Held]] = {}
        self._cursor: dict[str, int] = {}  # per protocol: the last port handed out at random

    def mappings(self, owner: str) -> list[PortMapping]:
        with self._lock:
            return [h.mapping for h in self._held.get(owner, [])]

    def owners(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def reserve(
        self,
        owner: str,
        requests: Sequence[PortRequest],
        *,
        container_ip: str,
        bridge: str,
        container_ip6: str | None = None,
        endpoint: str = "",
        endpoint_id: str = "",
    ) -> list[PortMapping]:
        """Hold a host port for every request (added to what ``owner`` holds already) and return
        the mappings made; all or nothing: on error nothing of this call stays held."""
        made: list[_Held] = []
        with self._lock:
            try:
                for req in requests:
                    made += self._one(req, container_ip, container_ip6, bridge, made)
            except PortAllocationError as error:
                for h in made:
                    if h.sock is not None:
                        h.sock.close()
                raise PortAllocationError(
                    f"driver failed programming external connectivity on endpoint {endpoint} "
                    f"({endpoint_id}): {error}"
                ) from None
            except BaseException:
                for h in made:
                    if h.sock is not None:
                        h.sock.close()
                raise
            self._held.setdefault(owner, []).extend(made)
        return [h.mapping for h in made]

    def release(self, owner: str) -> list[PortMapping]:
        """Close what ``owner`` holds; returns the mappings released (none: [])."""
        with self._lock:
            held = self._held.pop(owner, [])
        for h in held:
            if h.sock is not None:
                h.sock.close()
        return [h.mapping for h in held]

    def close(self) -> None:
        for owner in self.owners():
            self.release(owner)

    # --- choosing a port (under the lock) ---

    def _targets(self, req: PortRequest, ip4: str, ip6: str | None) -> list[str]:
        """Container addresses this request is served on (one per family)."""
        if not req.host_ip:
            return [ip4] + ([ip6] if ip6 else [])
        if _family(req.host_ip) == 4:
            return [ip4]
        if not ip6:
            raise PortAllocationError(
                f"cannot publish on {req.host_ip}: the container has no IPv6 address on this "
                "network (dockyard forwards ports in the kernel, without a userland proxy)"
            )
        return [ip6]

    def _taken(self, m: PortMapping, pending: Sequence[_Held]) -> bool:
        held = [h for hs in self._held.values() for h in hs] + list(pending)
        return any(_overlaps(m, h.mapping) for h in held)

    def _candidates(self, req: PortRequest) -> Iterable[int]:
        if req.host_port:
            return range(req.host_port, max(req.host_port, req.host_port_end) + 1)
        low, high = self._range
        start = self._cursor.get(req.proto, high) + 1
        if not low <= start <= high:
            start = low
        return [*range(start, high + 1), *range(low, start)]

    def _one(
        self, req: PortRequest, ip4: str, ip6: str | None, bridge: str, pending: list[_Held]
    ) -> list[_Held]:
        targets = self._targets(req, ip4, ip6)
        shown = req.host_ip or "0.0.0.0"
        last_error = ""
        for port in self._candidates(req):
            maps = [PortMapping(req.proto, req.host_ip, port, t, req.container_port, bridge)
                    for t in targets]
            if any(self._taken(m, pending) for m in maps):
                last_error = f"Bind for {shown}:{port} failed: port is already allocated"
                continue
            got: list[_Held] = []
            try:
                for m in maps:
                    fam = socket.AF_INET if _family(m.container_ip) == 4 else socket.AF_INET6
                    bind_ip = m.host_ip or ("0.0.0.0" if fam == socket.AF_INET else "::")
                    got.append(_Held(m, self._bind(fam, m.proto, bind_ip, port)))
            except OSError as error:
                for h in got:
                    if h.sock is not None:
                        h.sock.close()
                if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise PortAllocationError(
                        f"failed to bind host port for {_bracket(shown)}:{port}:"
                        f"{maps[0].container_ip}:{req.container_port}/{req.proto}: "
                        f"{error.strerror or error}"
                    ) from None
                last_error = (
                    f"failed to bind host port for {_bracket(shown)}:{port}:"
                    f"{maps[0].container_ip}:{req.container_port}/{req.proto}: "
                    f"{(error.strerror or str(error)).lower()}"
                )
                continue
            if not req.host_port:
                self._cursor[req.proto] = port
            return got
        if req.host_port and req.host_port_end > req.host_port:
            raise PortAllocationError(
                f"Bind for {shown}:{req.host_port}-{req.host_port_end} failed: "
                "port is already allocated"
            )
        if not req.host_port:
            raise PortAllocationError("all ports are allocated")
        raise PortAllocationError(last_error)


def _bracket(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip

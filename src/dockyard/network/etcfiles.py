"""/etc/hosts, /etc/resolv.conf and /etc/hostname for a container, as Docker writes them (pure).

The engine writes these into ``containers/<id>/`` and bind-mounts them over the container's files
(moby daemon/container/container_unix.go ``NetworkMounts``). Sources: moby
libnetwork/etchosts/etchosts.go and libnetwork/internal/resolvconf (see
shared/reference/runtime.md §3).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
SYSTEMD_RESOLV_CONF = Path("/run/systemd/resolve/resolv.conf")
SYSTEMD_STUB = "127.0.0.53"

DEFAULT_DNS_V4 = ("8.8.8.8", "8.8.4.4")
DEFAULT_DNS_V6 = ("2001:4860:4860::8888", "2001:4860:4860::8844")

HOSTS_IPV4 = (("127.0.0.1", "localhost"),)
HOSTS_IPV6 = (
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::", "ip6-localnet"),
    ("ff00::", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)


def hostname_file(hostname: str) -> str:
    return f"{hostname}\n"


def parse_add_host(spec: str, host_gateway: str | None = None) -> tuple[str, str]:
    """``--add-host name:ip`` (or ``name=ip``; ``host-gateway`` as ip) -> (name, ip)."""
    sep = "=" if "=" in spec else ":"
    name, _, ip = spec.partition(sep)
    if not name or not ip:
        raise ValueError(f"invalid argument {spec!r} for --add-host: expected HOST:IP")
    if ip == "host-gateway":
        if host_gateway is None:
            raise ValueError("unable to derive the IP value for host-gateway")
        ip = host_gateway
    ip = ip.strip("[]")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"invalid IP address in add-host: {ip!r}") from None
    return name, ip


def hosts_file(
    hostname: str,
    ip: str | None,
    extra_hosts: Iterable[tuple[str, str]] = (),
    *,
    domainname: str = "",
    ipv6: bool = True,
) -> str:
    """Docker's /etc/hosts: defaults, ``--add-host`` entries, then the container's own record.

    Docker builds the file with the defaults and extra hosts and appends the container's record
    when its endpoint joins, so ``<ip> <fqdn> <short>`` comes last. No own record for
    ``--network none|host`` (ip None). ``ipv6=False`` drops the ip6 lines (moby >= 26 does this for
    containers without IPv6).
    """
    records: list[tuple[str, str]] = list(HOSTS_IPV4)
    if ipv6:
        records += HOSTS_IPV6
    records += [(addr, name) for name, addr in extra_hosts]
    if ip:
        fqdn = f"{hostname}.{domainname}" if domainname else hostname
        short = fqdn.split(".", 1)[0]
        records.append((ip, fqdn if short == fqdn else f"{fqdn} {short}"))
    return "".join(f"{addr}\t{names}\n" for addr, names in records)


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # comments and unknown lines, kept in order


def parse_resolv_conf(text: str) -> ResolvConf:
    conf = ResolvConf()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            conf.other.append(line)
            continue
        key, args = words[0], words[1:]
        if key == "nameserver" and args:
            conf.nameservers.append(args[0])
        elif key in ("search", "domain"):
            conf.search = args  # the last search/domain line wins, as in glibc
        elif key == "options":
            conf.options += args
        else:
            conf.other.append(line)
    return conf


def _is_loopback(ns: str) -> bool:
    try:
        return ipaddress.ip_address(ns.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_v6(ns: str) -> bool:
    return ":" in ns


def pick_host_resolv_conf(
    read: Callable[[Path], str | None] = lambda p: p.read_text() if p.exists() else None,
) -> tuple[Path, str]:
    """The host resolv.conf Docker copies: ``/etc/resolv.conf``, or systemd-resolved's upstream
    file when the only nameserver is the 127.0.0.53 stub. Returns (path, text)."""
    text = read(HOST_RESOLV_CONF) or ""
    if parse_resolv_conf(text).nameservers == [SYSTEMD_STUB]:
        alt = read(SYSTEMD_RESOLV_CONF)
        if alt is not None:
            return SYSTEMD_RESOLV_CONF, alt
    return HOST_RESOLV_CONF, text


def resolv_conf(
    host_text: str,
    *,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    legacy_bridge: bool = True,
    ipv6: bool = False,
    keep_loopback: bool = False,
) -> str:
    """The container's resolv.conf from the host's.

    On the default bridge (``legacy_bridge``) and with host-derived nameservers, loopback
    nameservers (unreachable from the container's netns) and, without IPv6, IPv6 ones are dropped;
    when none remain Google's public servers are used, as Docker does. ``--dns``, ``--dns-search``
    (``.`` means none) and ``--dns-option`` replace the host's values. ``keep_loopback`` (the host
    network, where the host's loopback resolvers are reachable) filters nothing. User-defined
    networks (embedded DNS at 127.0.0.11) are the networking issue.
    """
    host = parse_resolv_conf(host_text)
    nameservers = list(dns)
    if not nameservers:
        nameservers = [ns for ns in host.nameservers if keep_loopback or not _is_loopback(ns)]
        if not ipv6 and not keep_loopback:
            nameservers = [ns for ns in nameservers if not _is_v6(ns)]
        if not nameservers and legacy_bridge:
            nameservers = list(DEFAULT_DNS_V4) + (list(DEFAULT_DNS_V6) if ipv6 else [])
    search = host.search
    if dns_search:
        search = [] if list(dns_search) == ["."] else list(dns_search)
    options = list(dns_options) if dns_options else host.options
    if not (dns or dns_search or dns_options):
        # Docker keeps the host file (comments and unknown lines too), only filtering nameservers.
        keep = set(nameservers)
        lines, kept = [], 0
        for line in host_text.splitlines():
            words = line.split()
            if words[:1] == ["nameserver"]:
                if len(words) < 2 or words[1] not in keep:
                    continue
                kept += 1
            lines.append(line)
        if not kept:
            lines += [f"nameserver {ns}" for ns in nameservers]
        return "\n".join(lines).strip("\n") + "\n"
    out = []
    if search:
        out.append("search " + " ".join(search))
    out += [f"nameserver {ns}" for ns in nameservers]
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def container_etc_files(
    mode: str,
    *,
    hostname: str,
    ip: str | None = None,
    domainname: str = "",
    extra_hosts: Iterable[tuple[str, str]] = (),
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    host_hosts: str = "",
    host_resolv: str = "",
) -> dict[str, str]:
    """Contents of ``hosts``, ``resolv.conf`` and ``hostname`` for a container (pure).

    ``bridge``/``none``: Docker's generated hosts file, filtered host resolv.conf. ``host``: the
    host's own /etc/hosts (plus ``--add-host`` lines) and unfiltered resolv.conf; pass the host's
    hostname as ``hostname``, as Docker does. ``container:<id>`` is not handled here: Docker
    bind-mounts the target container's three files, and the engine should do the same.
    ``host_resolv`` is the text from :func:`pick_host_resolv_conf`.
    """
    if mode.startswith("container"):
        raise ValueError("container: mode shares the target container's files")
    overrides = {"dns": dns, "dns_search": dns_search, "dns_options": dns_options}
    if mode == "host":
        hosts = host_hosts if not host_hosts or host_hosts.endswith("\n") else host_hosts + "\n"
        hosts += "".join(f"{addr}\t{name}\n" for name, addr in extra_hosts)
        resolv = resolv_conf(host_resolv, keep_loopback=True, legacy_bridge=False, **overrides)
    else:
        hosts = hosts_file(
            hostname, ip if mode == "bridge" else None, extra_hosts, domainname=domainname
        )
        resolv = resolv_conf(host_resolv, **overrides)
    return {"hosts": hosts, "resolv.conf": resolv, "hostname": hostname_file(hostname)}

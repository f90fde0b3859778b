"""Which URLs serve a registry host, in the order to try them (dockerd's rules).

- ``docker.io`` (and its aliases) is served by ``https://registry-1.docker.io``; configured
  mirrors come first for pulls and are skipped for pushes, as in dockerd.
- ``localhost``, ``127.0.0.0/8`` and ``::1`` speak plain HTTP.
- An insecure registry (``--insecure-registry``: a ``host[:port]`` or a CIDR that an IP-literal
  host falls in) is tried over HTTPS without verifying the certificate, then over plain HTTP.
- Anything else is HTTPS with verification.

Hostnames are not resolved to test them against CIDRs (dockerd does resolve them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DOCKER_HUB_URL = "https://registry-1.docker.io"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Endpoint:
    """One base URL for a registry's ``/v2/`` API."""

    url: str
    verify_tls: bool = True
    mirror: bool = False

    @property
    def host(self) -> str:
        """``host[:port]`` of the URL: the key for challenges and credentials."""
        return URL(self.url).raw_authority

    def api(self, path: str) -> URL:
        """The URL of ``/v2/<path>``; ``path`` is already escaped."""
        return URL(f"{self.url}/v2/{path}", encoded=True)


@dataclass(frozen=True)
class InsecureRegistries:
    """dockerd's ``insecure-registries``: ``host[:port]`` names and CIDRs."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> InsecureRegistries:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = _strip_scheme(raw.strip())
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                except ValueError:
                    raise ValueError(f"invalid insecure registry {raw!r}") from None
            if entry:
                names.add(entry.lower())
        return cls(frozenset(names), tuple(networks))

    def contains(self, host: str) -> bool:
        host = host.lower()
        if host in self.names or split_host(host)[0] in self.names:
            return True
        ip = _ip(split_host(host)[0])
        return ip is not None and any(ip in net for net in self.networks)


def split_host(host: str) -> tuple[str, int | None]:
    """``("[::1]", 5000)`` → ``("::1", 5000)``; ``"example.com"`` → ``("example.com", None)``."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return name, int(port) if port.isdigit() else None
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        return name, int(port) if port.isdigit() else None
    return host, None


def normalize_host(host: str) -> str:
    """Lower-case ``host[:port]``; Docker Hub's aliases become ``docker.io``."""
    host = _strip_scheme(host.strip()).split("/", 1)[0].lower()
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]"  # a bare IPv6 address
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def is_loopback(host: str) -> bool:
    name, _ = split_host(host.lower())
    if name == "localhost" or name.endswith(".localhost"):
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


def endpoints_for(
    host: str,
    *,
    insecure: InsecureRegistries | Iterable[str] = (),
    mirrors: Iterable[str] = (),
    push: bool = False,
) -> list[Endpoint]:
    """The endpoints to try for ``host``, first to last."""
    if not isinstance(insecure, InsecureRegistries):
        insecure = InsecureRegistries.parse(insecure)
    host = normalize_host(host)
    if host == DOCKER_HUB:
        found = [] if push else [mirror_endpoint(m, insecure) for m in mirrors]
        return [*found, Endpoint(DOCKER_HUB_URL)]
    if is_loopback(host):
        return [Endpoint(f"http://{host}")]
    if insecure.contains(host):
        return [Endpoint(f"https://{host}", verify_tls=False), Endpoint(f"http://{host}")]
    return [Endpoint(f"https://{host}")]


def mirror_endpoint(mirror: str, insecure: InsecureRegistries) -> Endpoint:
    """A mirror given as a URL (``https://m.example``) or a bare ``host[:port]``."""
    mirror = mirror.strip()
    if "://" not in mirror:
        scheme = "http" if is_loopback(mirror.rstrip("/")) else "https"
        mirror = f"{scheme}://{mirror}"
    url = URL(mirror)
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
        raise ValueError(f"invalid registry mirror {mirror!r}")
    base = f"{url.scheme}://{url.raw_authority}"
    return Endpoint(base, verify_tls=not insecure.contains(url.raw_authority), mirror=True)


def _strip_scheme(value: str) -> str:
    for prefix in ("https://", "http://"):
        if value.lower().startswith(prefix):
            return value[len(prefix):]
    return value


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None

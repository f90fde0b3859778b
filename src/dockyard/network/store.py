"""Persistence for networking: records in metadata.db, plus a small JSON document store.

:class:`NetworkDB` keeps the network records (table ``networks``, schema v2) and the
per-container state of schema v3: the networks a container wants (``network_attachments``),
the sandbox of a running container (``network_sandboxes``: its pinned netns, published
ports) and its endpoints (``network_endpoints``: veth, addresses). IP allocations are
ipam.py's. Records are plain dataclasses serialised as JSON columns.

``JSONFileStore``/``MemoryStore`` (a dict behind ``load()``/``save()``) remain for callers
that persist a small document: tmp -> fsync -> rename -> fsync(dir).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

PREDEFINED = ("bridge", "host", "none")


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created: float
    created_text: str = ""
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    pools: list[dict[str, Any]] = field(default_factory=list)  # IPAM Config entries
    ipam_options: dict[str, str] = field(default_factory=dict)
    auto_subnet: bool = False  # no --subnet given: --ip is refused, as in Docker
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    bridge: str = ""  # the Linux bridge (bridge driver)

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        """A bridge network other than the default one: DNS, aliases, --ip."""
        return self.driver == "bridge" and self.name != "bridge"

    def config(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("id", "name", "driver", "created", "labels"):
            data.pop(key)
        return data

    @classmethod
    def from_row(cls, row: Any) -> Network:
        config = json.loads(row["config"] or "{}")
        known = {f.name for f in fields(cls)}
        return cls(id=row["id"], name=row["name"], driver=row["driver"],
                   created=row["created"], labels=json.loads(row["labels"] or "{}"),
                   **{k: v for k, v in config.items() if k in known})


@dataclass
class Endpoint:
    network_id: str
    endpoint_id: str
    ifname: str = ""
    host_veth: str = ""
    mac: str = ""
    ipv4: str = ""
    prefixlen: int = 0
    gateway: str = ""
    ipv6: str = ""
    prefixlen6: int = 0
    gateway6: str = ""
    default_route: bool = False


@dataclass
class Sandbox:
    container_id: str
    sandbox_id: str
    mode: str  # the network mode it was started with
    netns_path: str = ""
    owns_netns: bool = False
    ports: list[dict[str, Any]] = field(default_factory=list)  # PortMapping fields
    port_settings: dict[str, Any] = field(default_factory=dict)  # NetworkSettings.Ports
    dns: list[str] = field(default_factory=list)  # --dns (embedded DNS forwarders)
    dns_on: bool = False  # registered with the embedded DNS server


@dataclass
class Wanted:
    """A network a container is attached to (started or not)."""

    network_id: str
    position: int  # 0: the primary one (NetworkMode)
    name: str = ""  # the container's name, without "/"
    aliases: list[str] = field(default_factory=list)
    ipv4: str = ""  # IPAMConfig.IPv4Address
    ipv6: str = ""
    links: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] = field(default_factory=dict)
    mac: str = ""


def _dump(obj: Any) -> str:
    return json.dumps(asdict(obj), sort_keys=True)


def _load(cls: type, text: str, **extra: Any) -> Any:
    data = json.loads(text or "{}")
    known = {f.name for f in fields(cls)}
    return cls(**{**{k: v for k, v in data.items() if k in known}, **extra})


class NetworkDB:
    """Network rows and per-container network state in metadata.db (``meta``: MetadataStore)."""

    def __init__(self, meta: Any) -> None:
        self.meta = meta

    # networks
    def networks(self) -> list[Network]:
        return [Network.from_row(r) for r in self.meta.query(
            "SELECT id, name, driver, created, config, labels FROM networks")]

    def put_network(self, net: Network) -> None:
        with self.meta.transaction() as conn:
            conn.execute(
                "INSERT INTO networks(id, name, driver, created, config, labels) "
                "VALUES(?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET name=excluded.name, "
                "driver=excluded.driver, config=excluded.config, labels=excluded.labels",
                (net.id, net.name, net.driver, net.created,
                 json.dumps(net.config(), sort_keys=True), json.dumps(net.labels)))

    def delete_network(self, network_id: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM networks WHERE id = ?", (network_id,))
            conn.execute("DELETE FROM ip_allocations WHERE network_id = ?", (network_id,))

    # wanted attachments
    def wanted(self) -> dict[str, dict[str, Wanted]]:
        out: dict[str, dict[str, Wanted]] = {}
        for r in self.meta.query("SELECT container_id, network_id, position, config "
                                 "FROM network_attachments"):
            out.setdefault(r[0], {})[r[1]] = _load(Wanted, r[3], network_id=r[1], position=r[2])
        return out

    def put_wanted(self, cid: str, items: list[Wanted]) -> None:
        with self.meta.transaction() as conn:
            for w in items:
                conn.execute(
                    "INSERT INTO network_attachments(container_id, network_id, position, config)"
                    " VALUES(?,?,?,?) ON CONFLICT(container_id, network_id) DO UPDATE SET "
                    "position=excluded.position, config=excluded.config",
                    (cid, w.network_id, w.position, _dump(w)))

    def delete_wanted(self, cid: str, network_id: str | None = None) -> None:
        with self.meta.transaction() as conn:
            if network_id is None:
                conn.execute("DELETE FROM network_attachments WHERE container_id = ?", (cid,))
            else:
                conn.execute("DELETE FROM network_attachments WHERE container_id = ? AND "
                             "network_id = ?", (cid, network_id))

    # running state
    def sandboxes(self) -> dict[str, Sandbox]:
        return {r[0]: _load(Sandbox, r[1], container_id=r[0]) for r in self.meta.query(
            "SELECT container_id, data FROM network_sandboxes")}

    def endpoints(self) -> dict[str, dict[str, Endpoint]]:
        out: dict[str, dict[str, Endpoint]] = {}
        for r in self.meta.query("SELECT container_id, network_id, data FROM network_endpoints"):
            out.setdefault(r[0], {})[r[1]] = _load(Endpoint, r[2], network_id=r[1])
        return out

    def put_sandbox(self, sb: Sandbox) -> None:
        with self.meta.transaction() as conn:
            conn.execute("INSERT INTO network_sandboxes(container_id, data) VALUES(?,?) "
                         "ON CONFLICT(container_id) DO UPDATE SET data=excluded.data",
                         (sb.container_id, _dump(sb)))

    def put_endpoint(self, cid: str, ep: Endpoint) -> None:
        with self.meta.transaction() as conn:
            conn.execute("INSERT INTO network_endpoints(container_id, network_id, data) "
                         "VALUES(?,?,?) ON CONFLICT(container_id, network_id) DO UPDATE SET "
                         "data=excluded.data", (cid, ep.network_id, _dump(ep)))

    def delete_endpoint(self, cid: str, network_id: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM network_endpoints WHERE container_id = ? AND "
                         "network_id = ?", (cid, network_id))

    def delete_sandbox(self, cid: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM network_endpoints WHERE container_id = ?", (cid,))
            conn.execute("DELETE FROM network_sandboxes WHERE container_id = ?", (cid,))


class Store(Protocol):
    def load(self) -> dict[str, Any]: ...

    def save(self, data: dict[str, Any]) -> None: ...


class MemoryStore:
    """A store for tests and for callers that persist elsewhere."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = json.loads(json.dumps(data or {}))
        self.saves = 0

    def load(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))

    def save(self, data: dict[str, Any]) -> None:
        self.data = json.loads(json.dumps(data))
        self.saves += 1


class JSONFileStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: not a JSON object")
        return data

    def save(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dirfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)

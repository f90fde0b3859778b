"""The embedded DNS server on the real kernel (root): served at 127.0.0.11:53 inside network
namespaces made by the test, forwarding to a fake upstream server on the host's 127.0.0.1.

Hermetic: namespaces are pinned under the test's own tmp dir and removed at teardown; the fake
upstream listens on a free port of the host's loopback; no packet leaves the machine. Every test
closes its server and checks that its threads ended and its namespaces are gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

if os.geteuid() != 0:
    pytest.skip("needs root", allow_module_level=True)

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.reversename  # noqa: E402

from dockyard.network import netns  # noqa: E402
from dockyard.network.dns import EmbeddedDNS  # noqa: E402

BUSYBOX = "/bin/busybox"


# --- helpers -----------------------------------------------------------------------------------


class FakeUpstream:
    """A DNS server on 127.0.0.1:<free port> in the host namespace, UDP and TCP, in a thread.

    modes: ``answer`` (A 192.0.2.10), ``servfail``, ``silent`` (never answers), ``truncate``
    (UDP: TC and no records; TCP: A 192.0.2.20), ``big`` (60 A records over UDP).
    """

    def __init__(self, mode: str = "answer") -> None:
        self.mode = mode
        self.queries: list[tuple[str, bytes]] = []
        for _ in range(20):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise RuntimeError("no free port for the fake upstream")
        self.tcp.listen(16)
        self.address = f"127.0.0.1:{self.port}"
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()

    def _reply(self, wire: bytes, proto: str) -> bytes | None:
        self.queries.append((proto, wire))
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        name = query.question[0].name

        def add(*addrs: str) -> None:
            rrset = response.find_rrset(response.answer, name, 1, 1, create=True)
            for addr in addrs:
                rrset.add(dns.rdata.from_text(1, 1, addr), 30)

        if self.mode == "silent":
            return None
        if self.mode == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif self.mode == "truncate" and proto == "udp":
            response.flags |= dns.flags.TC
        elif self.mode == "truncate":
            add("192.0.2.20")
        elif self.mode == "big":
            add(*(f"192.0.2.{i}" for i in range(1, 61)))
        else:
            add("192.0.2.10")
        return response.to_wire(max_size=65535)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ)
        sel.register(self.tcp, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj == self._wake_r:
                    sel.close()
                    return
                if key.fileobj is self.udp:
                    wire, peer = self.udp.recvfrom(65535)
                    reply = self._reply(wire, "udp")
                    if reply is not None:
                        self.udp.sendto(reply, peer)
                else:
                    conn, _ = self.tcp.accept()
                    with conn:
                        conn.settimeout(5)
                        size = int.from_bytes(_recv_exactly(conn, 2), "big")
                        reply = self._reply(_recv_exactly(conn, size), "tcp")
                        if reply is not None:
                            conn.sendall(len(reply).to_bytes(2, "big") + reply)

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(10)
        assert not self._thread.is_alive()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.udp.close()
        self.tcp.close()


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("short read")
        data += chunk
    return data


def free_port_in_loopback_dead() -> str:
    """An address on the host's loopback where nothing listens (UDP gets ICMP unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def ask(
    ns: Path, name: str, qtype: str = "A", *, tcp: bool = False, timeout: float = 5.0, **kw
) -> dns.message.Message:
    """Query 127.0.0.11 from inside the namespace ``ns``."""

    def work() -> dns.message.Message:
        query = dns.message.make_query(name, qtype, **kw)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(query, "127.0.0.11", timeout=timeout)

    return netns.run_in(ns, work)


def addresses(msg: dns.message.Message) -> list[str]:
    return [rd.address for rrset in msg.answer for rd in rrset if hasattr(rd, "address")]


def port_53_free(ns: Path) -> bool:
    """True when nothing holds 127.0.0.11:53 (UDP nor TCP) inside ``ns``."""

    def work() -> bool:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind(("127.0.0.11", 53))
                except OSError as error:
                    if error.errno == errno.EADDRINUSE:
                        return False
                    raise
        return True

    return netns.run_in(ns, work)


class Names:
    """lookup/reverse callbacks: per-container name tables, thread-safe, recording calls."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.forwarders: dict[str, list[str]] = {}
        self.calls = 0
        self._lock = threading.Lock()

    def lookup(self, cid: str, name: str, qtype: str) -> list[str] | None:
        with self._lock:
            self.calls += 1
            table = self.tables.get(cid, {})
            if name not in table:
                return None
            want = 4 if qtype == "A" else 6
            return [a for a in table[name] if (":" in a) == (want == 6)]

    def reverse(self, cid: str, ip: str) -> str | None:
        for name, addrs in self.tables.get(cid, {}).items():
            if ip in addrs:
                return f"{name}.testnet"
        return None

    def upstreams(self, cid: str) -> list[str]:
        return list(self.forwarders.get(cid, []))


def _dns_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dockyard-dns")]


@pytest.fixture
def make_ns(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    made: list[Path] = []
    token = os.urandom(3).hex()

    def make() -> Path:
        path = tmp_path / f"dy-dns-{token}-{len(made)}"
        netns.create(path)
        made.append(path)
        return path

    yield make
    for path in made:
        netns.remove(path)
    assert not any(path.exists() for path in made)


@pytest.fixture
def names() -> Names:
    return Names()


@pytest.fixture
def server(names: Names) -> Iterator[EmbeddedDNS]:
    before = set(_dns_threads())
    dns_server = EmbeddedDNS(names.lookup, names.upstreams, reverse=names.reverse, timeout=1.0)
    try:
        yield dns_server
    finally:
        dns_server.close()
    assert dns_server.served() == []
    assert [t for t in _dns_threads() if t not in before] == []


@contextlib.contextmanager
def upstream(mode: str = "answer") -> Iterator[FakeUpstream]:
    fake = FakeUpstream(mode)
    try:
        yield fake
    finally:
        fake.close()


# --- tests -------------------------------------------------------------------------------------


def test_answers_container_names_over_udp_and_tcp(server, names, make_ns):
    ns = make_ns()  # lo is down in a fresh namespace: add() brings it up
    names.tables["c1"] = {"web": ["10.9.0.3", "10.9.0.2"], "db": ["10.9.0.5", "fd00:9::5"]}
    server.add("c1", str(ns))
    assert server.served() == ["c1"]

    first = ask(ns, "web")
    assert first.rcode() == dns.rcode.NOERROR and first.flags & dns.flags.RA
    assert addresses(first) == ["10.9.0.2", "10.9.0.3"] and first.answer[0].ttl == 600
    second = ask(ns, "WEB.", tcp=True)  # case and trailing dot do not matter; TCP works
    assert addresses(second) == ["10.9.0.3", "10.9.0.2"]  # rotated
    assert addresses(ask(ns, "web")) == ["10.9.0.2", "10.9.0.3"]

    assert addresses(ask(ns, "db", "AAAA")) == ["fd00:9::5"]
    empty = ask(ns, "web", "AAAA")  # our name, no IPv6: NOERROR, no records, not forwarded
    assert empty.rcode() == dns.rcode.NOERROR and empty.answer == []
    mx = ask(ns, "db", "MX")
    assert mx.rcode() == dns.rcode.NOERROR and mx.answer == []
    ptr = ask(ns, dns.reversename.from_address("10.9.0.5"), "PTR")
    assert [rd.target.to_text() for rd in ptr.answer[0]] == ["db.testnet."]


def test_forwards_other_names_to_the_host_upstream(server, names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {"web": ["10.9.0.2"]}
    with upstream() as fake:
        names.forwarders["c1"] = [fake.address]
        server.add("c1", str(ns))

        query = dns.message.make_query("example.org", "A")
        wire = query.to_wire()
        reply = netns.run_in(ns, lambda: dns.query.udp(query, "127.0.0.11", timeout=5))
        assert reply.id == query.id and addresses(reply) == ["192.0.2.10"]
        assert fake.queries == [("udp", wire)]  # forwarded unchanged

        reply = ask(ns, "example.org", tcp=True)  # asked over TCP: forwarded over TCP
        assert addresses(reply) == ["192.0.2.10"]
        assert [proto for proto, _ in fake.queries] == ["udp", "tcp"]

        # a name in a search domain is not ours either: forwarded as asked
        ask(ns, "web.example.com")
        assert dns.message.from_wire(fake.queries[-1][1]).question[0].name.to_text() == (
            "web.example.com."
        )


def test_next_upstream_on_failure_and_servfail_when_none_answers(server, names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {}
    with upstream("servfail") as bad, upstream("silent") as mute, upstream() as good:
        names.forwarders["c1"] = ["not-an-address", free_port_in_loopback_dead(), bad.address]
        server.add("c1", str(ns))
        failed = ask(ns, "example.org")
        assert failed.rcode() == dns.rcode.SERVFAIL and len(bad.queries) == 1

        names.forwarders["c1"] = [mute.address, bad.address, good.address]
        started = time.monotonic()
        reply = ask(ns, "example.org")
        assert addresses(reply) == ["192.0.2.10"]
        assert len(mute.queries) == 1 and len(bad.queries) == 2 and len(good.queries) == 1
        assert time.monotonic() - started >= 0.9  # waited for the silent one (timeout 1s)

        names.forwarders["c1"] = []
        assert ask(ns, "example.org").rcode() == dns.rcode.SERVFAIL


def test_truncated_upstream_answers(server, names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {}
    with upstream("truncate") as trunc, upstream("big") as big:
        names.forwarders["c1"] = [trunc.address]
        server.add("c1", str(ns))
        reply = ask(ns, "example.org")  # TC over UDP: we ask again over TCP, and it fits
        assert addresses(reply) == ["192.0.2.20"] and not reply.flags & dns.flags.TC
        assert [proto for proto, _ in trunc.queries] == ["udp", "tcp"]

        names.forwarders["c1"] = [big.address]
        small = ask(ns, "example.org")  # 60 records do not fit 512 bytes: TC for the client
        assert small.flags & dns.flags.TC and len(addresses(small)) < 60
        full = ask(ns, "example.org", use_edns=0, payload=4096)
        assert not full.flags & dns.flags.TC and len(addresses(full)) == 60


def test_remove_closes_the_sockets_at_once_and_add_again_works(server, names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {"web": ["10.9.0.2"]}
    server.add("c1", str(ns))
    assert not port_53_free(ns)
    server.remove("c1")
    assert port_53_free(ns) and server.served() == []
    server.remove("c1")  # unknown: no-op
    server.add("c1", str(ns))
    server.add("c1", str(ns))  # re-adding replaces
    assert addresses(ask(ns, "web")) == ["10.9.0.2"]


def test_each_container_gets_its_own_answers(server, names, make_ns):
    ns1, ns2 = make_ns(), make_ns()
    names.tables["c1"] = {"peer": ["10.9.0.2"]}
    names.tables["c2"] = {"peer": ["10.8.0.2"]}
    server.add("c1", str(ns1))
    server.add("c2", str(ns2))
    assert server.served() == ["c1", "c2"]
    assert addresses(ask(ns1, "peer")) == ["10.9.0.2"]
    assert addresses(ask(ns2, "peer", tcp=True)) == ["10.8.0.2"]
    server.remove("c1")
    assert port_53_free(ns1) and not port_53_free(ns2)
    assert addresses(ask(ns2, "peer")) == ["10.8.0.2"]


def test_garbage_and_a_flood_do_not_stop_it(server, names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {"web": ["10.9.0.2"]}
    server.add("c1", str(ns))
    rng = random.Random(7)
    valid = dns.message.make_query("web", "A").to_wire()

    def blast() -> int:
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for i in range(20000):
                data = rng.randbytes(rng.randrange(0, 100)) if i % 4 else valid
                try:
                    sock.sendto(data, ("127.0.0.11", 53))
                    sent += 1
                except BlockingIOError:
                    pass
        # TCP: garbage, a half message, and a connection that says nothing
        for payload in (b"\x00\x05hello", b"\x00\x40abc", b"", rng.randbytes(300)):
            with socket.create_connection(("127.0.0.11", 53), timeout=5) as conn:
                conn.sendall(payload)
        return sent

    sent = netns.run_in(ns, blast)
    assert sent > 0
    assert server._jobs.qsize() <= server._jobs.maxsize  # bounded, whatever was dropped
    # a query queued behind the flood may be dropped, as UDP allows: retry like a stub resolver
    deadline = time.monotonic() + 20
    while True:
        try:
            reply = ask(ns, "web", timeout=1)
            break
        except dns.exception.Timeout:
            assert time.monotonic() < deadline, "no answer after the flood"
    assert addresses(reply) == ["10.9.0.2"]
    assert addresses(ask(ns, "web", tcp=True)) == ["10.9.0.2"]


@pytest.mark.skipif(
    not (os.path.exists(BUSYBOX) and shutil.which("nsenter")), reason="needs busybox, nsenter"
)
def test_busybox_nslookup_inside_the_namespace(server, names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {"web": ["10.9.0.2", "10.9.0.3"]}
    with upstream() as fake:
        names.forwarders["c1"] = [fake.address]
        server.add("c1", str(ns))

        def nslookup(name: str) -> str:
            done = subprocess.run(
                ["nsenter", f"--net={ns}", BUSYBOX, "nslookup", "-type=a", name, "127.0.0.11"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        out = nslookup("web")
        assert "Address: 10.9.0.2" in out and "Address: 10.9.0.3" in out
        assert "Address: 192.0.2.10" in nslookup("example.org")


def test_close_stops_threads_and_sockets(names, make_ns):
    ns = make_ns()
    names.tables["c1"] = {"web": ["10.9.0.2"]}
    before = set(_dns_threads())
    dns_server = EmbeddedDNS(names.lookup, names.upstreams)
    dns_server.add("c1", str(ns))
    assert len([t for t in _dns_threads() if t not in before]) == 2
    dns_server.close()
    dns_server.close()  # idempotent
    assert port_53_free(ns)
    assert [t for t in _dns_threads() if t not in before] == []
    with pytest.raises(RuntimeError):
        dns_server.add("c1", str(ns))
    assert port_53_free(ns)

"""Docker's embedded DNS server at 127.0.0.11:53 inside containers on user-defined networks.

Two halves. :class:`Resolver` is sans-IO: query bytes in, answer bytes (or "forward this") out,
answering A/AAAA from the ``lookup`` callback as moby's libnetwork/resolver.go does (TTL 600, all
addresses, rotated on every query). :class:`EmbeddedDNS` is the effect: per container a UDP and a
listening TCP socket bound inside the container's network namespace (a short-lived thread joins
it; a socket keeps its namespace), all served by one asyncio loop thread in the daemon. Queries
that are not ours are forwarded from the daemon's (host) namespace, so host loopback resolvers
such as systemd-resolved's 127.0.0.53 work, as in Docker.

The ``lookup``/``forwarders``/``reverse`` callbacks run in one separate worker thread, never in
the loop thread: the network manager may hold its own lock while it calls :meth:`add` or
:meth:`remove`, which wait on the loop, while a callback waits on that lock.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import ipaddress
import logging
import queue
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.reversename

from . import netns

log = logging.getLogger("dockyard.network.dns")

Lookup = Callable[[str, str, str], "list[str] | None"]
Forwarders = Callable[[str], "list[str]"]
Reverse = Callable[[str, str], "str | None"]

DNS_ADDRESS = "127.0.0.11"
DNS_PORT = 53
TTL = 600  # moby respTTL
MAX_FORWARDERS = 3  # moby maxExtDNS
FORWARD_TIMEOUT = 4.0  # moby extIOTimeout, per upstream server
MAX_INFLIGHT = 1024  # moby maxConcurrent: forwarded queries waiting on an upstream
MAX_PENDING = 1024  # queries waiting for the worker thread; more are dropped
MAX_TCP_CONNS = 64  # per container
TCP_IDLE = 10.0
UDP_BATCH = 64  # datagrams read per readiness callback, so one busy socket cannot starve others
MAX_TURNS = 4096  # names whose round-robin position is remembered
OUR_PAYLOAD = 1232
MIN_UDP = 512

_QR, _TC = 0x8000, 0x0200
SIOCGIFFLAGS, IFF_UP = 0x8913, 0x1
_FORMERR, _SERVFAIL, _NOTIMP, _REFUSED = 1, 2, 4, 5


# --- sans-IO ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forward:
    """Not ours: send ``wire`` unchanged upstream; ``max_size`` is what the client accepts."""

    query: dns.message.Message
    wire: bytes
    max_size: int


def header_reply(wire: bytes, rcode: int) -> bytes:
    """A header-only reply (no sections) echoing id, opcode and RD: FORMERR/NOTIMP for bad input."""
    ident, flags = struct.unpack_from("!HH", wire)
    return struct.pack("!HHHHHH", ident, _QR | (flags & 0x7900) | rcode, 0, 0, 0, 0)


def is_reply_to(reply: bytes, query: bytes) -> bool:
    return len(reply) >= 12 and reply[:2] == query[:2] and bool(reply[2] & 0x80)


def reply_rcode(reply: bytes) -> int:
    return reply[3] & 0x0F


def is_truncated(reply: bytes) -> bool:
    return bool(reply[2] & 0x02)


def max_reply_size(query: dns.message.Message, tcp: bool) -> int:
    """Docker's limit: 65535 over TCP, else the EDNS payload the client offers, at least 512."""
    if tcp:
        return 65535
    return min(65535, max(MIN_UDP, query.payload if query.edns >= 0 else 0))


def render(response: dns.message.Message, max_size: int, tcp: bool) -> bytes:
    """Wire form within ``max_size``: drop answer records from the end until it fits (TC over
    UDP), as moby's truncateResp does, rather than the whole RRset."""
    try:
        return response.to_wire(max_size=max_size, want_shuffle=False)
    except dns.exception.TooBig:
        pass
    if not tcp:
        response.flags |= dns.flags.TC
    if len(response.answer) == 1:
        rrset = response.answer[0]
        items = list(rrset)

        def fits(n: int) -> bytes | None:
            rrset.clear()
            for rd in items[:n]:
                rrset.add(rd)
            try:
                return response.to_wire(max_size=max_size, want_shuffle=False)
            except dns.exception.TooBig:
                return None

        lo, hi, best = 0, len(items) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            wire = fits(mid)
            if wire is None:
                hi = mid - 1
            else:
                best, lo = wire, mid + 1
        if best is not None:
            return best
    return response.to_wire(max_size=max_size, prefer_truncation=True, want_shuffle=False)


def fit_relay(reply: bytes, max_size: int) -> bytes:
    """An upstream answer for a UDP client, truncated (TC) where it exceeds the client's size."""
    if len(reply) <= max_size:
        return reply
    try:
        msg = dns.message.from_wire(reply)
        return msg.to_wire(max_size=max_size, prefer_truncation=True, want_shuffle=False)
    except Exception:
        ident, flags = struct.unpack_from("!HH", reply)
        return struct.pack("!HHHHHH", ident, flags | _TC, 0, 0, 0, 0)


def servfail(query: dns.message.Message, max_size: int = MIN_UDP) -> bytes:
    response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_PAYLOAD)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response.to_wire(max_size=max_size, prefer_truncation=True, want_shuffle=False)


def _key(name: dns.name.Name) -> str | None:
    """The lookup key: lower case, no trailing dot; None for the root."""
    if name == dns.name.root:
        return None
    return name.to_text(omit_final_dot=True).lower()


def _sorted_family(addrs: list[str], family: socket.AddressFamily) -> list[str]:
    """Valid addresses of one family, deduplicated, in address order (a stable base to rotate)."""
    packed = set()
    for addr in addrs:
        try:
            packed.add(socket.inet_pton(family, addr))
        except (OSError, TypeError, ValueError):
            continue
    return [socket.inet_ntop(family, raw) for raw in sorted(packed)]


class Resolver:
    """Decides the answer to one query (sans-IO); keeps only the round-robin positions.

    Not thread-safe: :class:`EmbeddedDNS` calls it from its one worker thread.
    """

    def __init__(self, lookup: Lookup, reverse: Reverse | None = None) -> None:
        self._lookup = lookup
        self._reverse = reverse
        self._turns: OrderedDict[tuple[str, str], int] = OrderedDict()

    def handle(self, cid: str, wire: bytes, *, tcp: bool = False) -> bytes | Forward | None:
        """Answer bytes, a :class:`Forward`, or None to drop (not a query, unreadable header)."""
        if len(wire) < 12:
            return None
        _, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", wire)
        if flags & _QR:
            return None  # a response: never answer it (no reflection loops)
        if (flags >> 11) & 0xF != dns.opcode.QUERY:
            return header_reply(wire, _NOTIMP)
        # miekg/dns's default accept rules, which Docker's server applies
        if qd != 1 or an > 1 or ns > 1 or ar > 2:
            return header_reply(wire, _FORMERR)
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return header_reply(wire, _FORMERR)
        max_size = max_reply_size(query, tcp)
        try:
            response = self._answer(cid, query)
        except Exception:
            log.exception("embedded DNS lookup failed for %s", cid)
            return servfail(query, max_size)
        if response is None:
            return Forward(query, wire, max_size)
        return render(response, max_size, tcp)

    def _answer(self, cid: str, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            return None
        if question.rdtype == dns.rdatatype.PTR and self._reverse is not None:
            answer = self._ptr(cid, query)
            if answer is not None:
                return answer
        key = _key(question.name)
        if key is None:
            return None
        if question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            v4 = question.rdtype == dns.rdatatype.A
            qtype, family = ("A", socket.AF_INET) if v4 else ("AAAA", socket.AF_INET6)
            addrs = self._lookup(cid, key, qtype)
            if addrs is None:
                return None
            response = self._reply(query)
            addrs = self._rotate(key, qtype, _sorted_family(addrs, family))
            if addrs:
                rrset = response.find_rrset(
                    response.answer, question.name, question.rdclass, question.rdtype, create=True
                )
                cls = dns.rdtypes.IN.A.A if v4 else dns.rdtypes.IN.AAAA.AAAA
                for addr in addrs:
                    rrset.add(cls(question.rdclass, question.rdtype, addr), TTL)
            return response
        # A name we know, another type (MX, TXT, ...): it exists, without records of that type.
        # (moby answers so for MX and forwards the other types; no container name goes upstream.)
        if any(self._lookup(cid, key, t) is not None for t in ("A", "AAAA")):
            return self._reply(query)
        return None

    def _ptr(self, cid: str, query: dns.message.Message) -> dns.message.Message | None:
        assert self._reverse is not None
        question = query.question[0]
        try:
            ip = dns.reversename.to_address(question.name)
        except Exception:
            return None
        host = self._reverse(cid, ip)
        if not host:
            return None
        response = self._reply(query)
        rrset = response.find_rrset(
            response.answer, question.name, question.rdclass, question.rdtype, create=True
        )
        target = dns.name.from_text(host.rstrip(".") + ".")
        rrset.add(dns.rdtypes.ANY.PTR.PTR(question.rdclass, question.rdtype, target), TTL)
        return response

    @staticmethod
    def _reply(query: dns.message.Message) -> dns.message.Message:
        return dns.message.make_response(query, recursion_available=True, our_payload=OUR_PAYLOAD)

    def _rotate(self, name: str, qtype: str, addrs: list[str]) -> list[str]:
        if len(addrs) < 2:
            return addrs
        key = (name, qtype)
        turn = self._turns.pop(key, 0)
        self._turns[key] = turn + 1
        if len(self._turns) > MAX_TURNS:
            self._turns.popitem(last=False)
        k = turn % len(addrs)
        return addrs[k:] + addrs[:k]


def parse_server(server: str) -> tuple[str, int] | None:
    """``ip``, ``ip:port``, ``[ip6]:port`` -> (ip, port); None for anything else."""
    host, port = server.strip(), DNS_PORT
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    if host.startswith("["):
        host, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else str(DNS_PORT)
    else:
        host, sep, port_text = host.rpartition(":")
        if not sep:
            return None
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
    except ValueError:
        return None
    return (host, port) if 0 < port < 65536 else None


# --- effects ----------------------------------------------------------------------------------


def _lo_is_up() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
    return bool(flags & IFF_UP)


def _lo_up() -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname="lo"):
            ipr.link("set", index=index, state="up")


def _bind_here(address: str, port: int) -> tuple[socket.socket, socket.socket]:
    """UDP + listening TCP sockets on address:port in the calling thread's network namespace."""
    # binding 127.0.0.11 works with lo down, but nothing reaches it: make sure lo is up
    if not _lo_is_up():
        _lo_up()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((address, port))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((address, port))
        tcp.listen(128)
        udp.setblocking(False)
        tcp.setblocking(False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


@dataclass(eq=False)
class _Endpoint:
    cid: str
    udp: socket.socket
    server: asyncio.Server | None = None
    conns: set[asyncio.StreamWriter] = field(default_factory=set)
    tasks: set[asyncio.Task] = field(default_factory=set)
    closed: bool = False


@dataclass(frozen=True, slots=True)
class _Job:
    ep: _Endpoint
    wire: bytes
    reply_to: tuple | asyncio.Future  # UDP peer address, or the TCP handler's future


class EmbeddedDNS:
    """The embedded DNS server for all containers (see the module docstring).

    ``lookup(cid, name, "A"|"AAAA")`` -> addresses, ``[]`` for a name we know without records of
    that type (NOERROR, empty), None for a name that is not ours (forwarded).
    ``forwarders(cid)`` -> upstream servers (``ip``, ``ip:port`` or ``[ip6]:port``), first 3 used.
    ``reverse(cid, ip)`` -> the name for one of our addresses (PTR), or None (forwarded).
    The callbacks must be thread-safe; they run in one worker thread.
    """

    def __init__(
        self,
        lookup: Lookup,
        forwarders: Forwarders,
        *,
        reverse: Reverse | None = None,
        timeout: float = FORWARD_TIMEOUT,
    ) -> None:
        self._resolver = Resolver(lookup, reverse)
        self._forwarders = forwarders
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=MAX_PENDING)
        self._endpoints: dict[str, _Endpoint] = {}  # loop thread only
        self._inflight = 0  # loop thread only
        self.dropped = 0  # queries dropped because the worker queue was full
        # endpoints not read while the queue is full: the kernel drops a flood, not Python
        self._paused: set[_Endpoint] = set()  # loop thread only
        self._any_paused = False

    # public, blocking, any thread ---------------------------------------------------------------

    def add(
        self, cid: str, netns_path: str, *, address: str = DNS_ADDRESS, port: int = DNS_PORT
    ) -> None:
        """Serve ``address:port`` (UDP and TCP) inside the namespace at ``netns_path`` for ``cid``.

        Re-adding a cid replaces its sockets. Raises OSError when the sockets cannot be bound.
        """
        if self._closed:
            raise RuntimeError("embedded DNS is closed")
        self.remove(cid)
        udp, tcp = netns.run_in(netns_path, functools.partial(_bind_here, address, port))
        try:
            self._call(self._start(cid, udp, tcp))
        except BaseException:
            udp.close()
            tcp.close()
            raise

    def remove(self, cid: str) -> None:
        """Stop serving ``cid``: its sockets are closed when this returns. Unknown cid: no-op."""
        if self._loop is not None and not self._closed:
            self._call(self._stop(cid))

    def close(self) -> None:
        """Close every container's sockets and stop the threads. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread, worker = self._loop, self._thread, self._worker
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop_all(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            if not thread.is_alive():
                loop.close()
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        if worker is not None:
            worker.join(10)

    def served(self) -> list[str]:
        """The cids being served (for tests and leak checks)."""
        if self._loop is None or self._closed:
            return []

        async def names() -> list[str]:
            return sorted(self._endpoints)

        return self._call(names())

    # threads ------------------------------------------------------------------------------------

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("embedded DNS is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="dockyard-dns", daemon=True
                )
                self._worker = threading.Thread(
                    target=self._work, name="dockyard-dns-lookup", daemon=True
                )
                self._loop = loop
                self._thread.start()
                self._worker.start()
            return self._loop

    def _call(self, coro):
        try:
            loop = self._ensure_started()
            if threading.current_thread() is self._thread:
                raise RuntimeError("EmbeddedDNS methods must not be called from its own loop")
        except BaseException:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    def _work(self) -> None:
        """The worker thread: parse, call back, decide; hand the result to the loop."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.ep.closed:
                result = None
            else:
                tcp = not isinstance(job.reply_to, tuple)
                try:
                    result = self._resolver.handle(job.ep.cid, job.wire, tcp=tcp)
                except Exception:  # never lose the thread to a bug or a strange packet
                    log.exception("embedded DNS: query from %s", job.ep.cid)
                    result = None
                if isinstance(result, Forward):
                    try:
                        servers = list(self._forwarders(job.ep.cid))[:MAX_FORWARDERS]
                    except Exception:
                        log.exception("embedded DNS: forwarders(%s)", job.ep.cid)
                        servers = []
                    result = (result, servers)
            try:
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._deliver, job, result)
                if self._any_paused and self._jobs.qsize() < MAX_PENDING // 2:
                    self._any_paused = False
                    self._loop.call_soon_threadsafe(self._resume)
            except RuntimeError:  # loop closed
                return

    # loop thread --------------------------------------------------------------------------------

    async def _start(self, cid: str, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        ep = _Endpoint(cid, udp)
        loop.add_reader(udp.fileno(), self._on_udp, ep)
        try:
            ep.server = await asyncio.start_server(functools.partial(self._serve_tcp, ep), sock=tcp)
        except BaseException:
            loop.remove_reader(udp.fileno())
            raise
        old = self._endpoints.pop(cid, None)
        if old is not None:
            self._close_endpoint(old)
        self._endpoints[cid] = ep

    async def _stop(self, cid: str) -> None:
        ep = self._endpoints.pop(cid, None)
        if ep is not None:
            self._close_endpoint(ep)

    async def _stop_all(self) -> None:
        tasks: list[asyncio.Task] = []
        for cid in list(self._endpoints):
            ep = self._endpoints.pop(cid)
            tasks += ep.tasks
            self._close_endpoint(ep)
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def _close_endpoint(self, ep: _Endpoint) -> None:
        ep.closed = True
        self._paused.discard(ep)
        loop = asyncio.get_running_loop()
        try:
            loop.remove_reader(ep.udp.fileno())
        except (ValueError, OSError):
            pass
        ep.udp.close()
        if ep.server is not None:
            ep.server.close()  # closes the listening socket now
        for writer in list(ep.conns):
            writer.transport.abort()
        for task in list(ep.tasks):
            task.cancel()

    def _on_udp(self, ep: _Endpoint) -> None:
        for _ in range(UDP_BATCH):
            try:
                wire, peer = ep.udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ECONNREFUSED queued by an earlier reply's ICMP
                continue
            if not self._submit(_Job(ep, wire, peer)):
                asyncio.get_running_loop().remove_reader(ep.udp.fileno())
                self._paused.add(ep)
                self._any_paused = True
                if self._jobs.qsize() < MAX_PENDING // 2:  # the worker drained it meanwhile
                    self._resume()
                return

    def _resume(self) -> None:
        loop = asyncio.get_running_loop()
        for ep in self._paused:
            if not ep.closed:
                loop.add_reader(ep.udp.fileno(), self._on_udp, ep)
        self._paused.clear()

    def _submit(self, job: _Job) -> bool:
        try:
            self._jobs.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _deliver(self, job: _Job, result: object) -> None:
        if isinstance(job.reply_to, asyncio.Future):
            if not job.reply_to.done():
                job.reply_to.set_result(result)
            return
        if job.ep.closed or result is None:
            return
        if isinstance(result, bytes):
            self._sendto(job.ep, result, job.reply_to)
            return
        fwd, servers = result  # type: ignore[misc]
        if self._inflight >= MAX_INFLIGHT:
            self._sendto(job.ep, servfail(fwd.query, fwd.max_size), job.reply_to)
            return
        self._track(job.ep, self._relay_udp(job.ep, job.reply_to, fwd, servers))

    def _track(self, ep: _Endpoint, coro) -> asyncio.Task:
        self._inflight += 1
        task = asyncio.get_running_loop().create_task(coro)
        ep.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._inflight -= 1
            ep.tasks.discard(t)

        task.add_done_callback(done)
        return task

    @staticmethod
    def _sendto(ep: _Endpoint, wire: bytes, peer: tuple) -> None:
        if ep.closed:
            return
        try:
            ep.udp.sendto(wire, peer)
        except OSError:  # full socket buffer or peer gone: UDP may drop, never queue
            pass

    async def _relay_udp(self, ep: _Endpoint, peer: tuple, fwd: Forward, servers: list[str]):
        reply = await self._forward(fwd, servers, tcp=False)
        self._sendto(ep, reply, peer)

    async def _serve_tcp(
        self, ep: _Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if ep.closed or len(ep.conns) >= MAX_TCP_CONNS:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        ep.conns.add(writer)
        ep.tasks.add(task)
        loop = asyncio.get_running_loop()
        try:
            while not ep.closed:
                async with asyncio.timeout(TCP_IDLE):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    wire = await reader.readexactly(size)
                future = loop.create_future()
                if not self._submit(_Job(ep, wire, future)):
                    return
                result = await future
                if result is None:
                    return
                if isinstance(result, tuple):
                    fwd, servers = result
                    if self._inflight >= MAX_INFLIGHT:
                        result = servfail(fwd.query, fwd.max_size)
                    else:
                        self._inflight += 1
                        try:
                            result = await self._forward(fwd, servers, tcp=True)
                        finally:
                            self._inflight -= 1
                writer.write(len(result).to_bytes(2, "big") + result)
                async with asyncio.timeout(TCP_IDLE):
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            pass
        finally:
            ep.conns.discard(writer)
            ep.tasks.discard(task)
            writer.transport.abort()

    async def _forward(self, fwd: Forward, servers: list[str], *, tcp: bool) -> bytes:
        """Ask each upstream in turn (moby forwardExtDNS): a SERVFAIL/REFUSED or no answer
        moves on to the next; none left -> SERVFAIL. A truncated UDP answer is retried over TCP
        and the full answer used when it fits the client, else relayed truncated."""
        for server in servers:
            where = parse_server(server)
            if where is None:
                continue
            try:
                if tcp:
                    reply = await self._ask_tcp(where, fwd.wire)
                else:
                    reply = await self._ask_udp(where, fwd.wire)
                    if is_truncated(reply):
                        try:
                            full = await self._ask_tcp(where, fwd.wire)
                        except (OSError, TimeoutError, asyncio.IncompleteReadError):
                            full = None
                        if full is not None and len(full) <= fwd.max_size:
                            reply = full
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                continue
            if reply_rcode(reply) in (_SERVFAIL, _REFUSED):
                continue
            return reply if tcp else fit_relay(reply, fwd.max_size)
        return servfail(fwd.query, fwd.max_size)

    async def _ask_udp(self, where: tuple[str, int], wire: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            async with asyncio.timeout(self._timeout):
                await loop.sock_connect(sock, where)
                await loop.sock_sendall(sock, wire)
                while True:
                    reply = await loop.sock_recv(sock, 65535)
                    if is_reply_to(reply, wire):
                        return reply

    async def _ask_tcp(self, where: tuple[str, int], wire: bytes) -> bytes:
        async with asyncio.timeout(self._timeout):
            reader, writer = await asyncio.open_connection(where[0], where[1])
            try:
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = await reader.readexactly(size)
            finally:
                writer.transport.abort()
        if not is_reply_to(reply, wire):
            raise ValueError("upstream answered another query")
        return reply


__all__ = ["DNS_ADDRESS", "EmbeddedDNS", "Forward", "Resolver", "parse_server"]

"""The embedded DNS server's decisions (sans-IO): query bytes in, answer bytes or Forward out."""

from __future__ import annotations

import random
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import pytest

from dockyard.network import dns as edns
from dockyard.network.dns import Forward, Resolver

pytestmark = pytest.mark.unit

NAMES = {
    "web": ["172.18.0.4", "172.18.0.2", "172.18.0.3"],
    "db": ["172.18.0.9", "fd00::9"],
    "v6only": ["fd00::5"],
}


class Book:
    """A lookup callback over NAMES that records what it was asked."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = NAMES if names is None else names
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, cid: str, name: str, qtype: str) -> list[str] | None:
        self.asked.append((cid, name, qtype))
        if name not in self.names:
            return None
        return list(self.names[name])  # families filtered by the resolver


def ask(resolver: Resolver, name: str, qtype: str = "A", *, tcp: bool = False, **kw):
    query = dns.message.make_query(name, qtype, **kw)
    out = resolver.handle("c1", query.to_wire(), tcp=tcp)
    return query, out


def answer_of(out) -> dns.message.Message:
    assert isinstance(out, bytes), out
    return dns.message.from_wire(out)


def addresses(msg: dns.message.Message) -> list[str]:
    return [rd.address for rrset in msg.answer for rd in rrset]


def test_a_answer_lists_all_addresses_with_ttl_600():
    query, out = ask(Resolver(Book()), "web")
    msg = answer_of(out)
    assert msg.id == query.id
    assert msg.rcode() == dns.rcode.NOERROR
    assert msg.flags & dns.flags.QR and msg.flags & dns.flags.RA and msg.flags & dns.flags.RD
    assert not msg.flags & dns.flags.TC
    assert msg.question == query.question
    assert sorted(addresses(msg)) == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]
    (rrset,) = msg.answer
    assert rrset.ttl == 600 and rrset.rdtype == dns.rdatatype.A


def test_round_robin_rotates_on_every_query():
    resolver = Resolver(Book())
    seen = [addresses(answer_of(ask(resolver, "web")[1])) for _ in range(4)]
    assert seen[0] == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]
    assert seen[1] == ["172.18.0.3", "172.18.0.4", "172.18.0.2"]
    assert seen[2] == ["172.18.0.4", "172.18.0.2", "172.18.0.3"]
    assert seen[3] == seen[0]


def test_rotation_is_per_name_and_type_and_its_memory_is_bounded(monkeypatch):
    names = {f"n{i}": ["10.0.0.1", "10.0.0.2"] for i in range(10)}
    resolver = Resolver(Book(names))
    monkeypatch.setattr(edns, "MAX_TURNS", 4)
    assert addresses(answer_of(ask(resolver, "n0")[1]))[0] == "10.0.0.1"
    assert addresses(answer_of(ask(resolver, "n1")[1]))[0] == "10.0.0.1"
    assert addresses(answer_of(ask(resolver, "n0")[1]))[0] == "10.0.0.2"
    for i in range(10):
        ask(resolver, f"n{i}")
    assert len(resolver._turns) == 4


def test_names_match_case_insensitively_with_or_without_trailing_dot():
    book = Book()
    resolver = Resolver(book)
    for name in ("WeB", "web.", "WEB."):
        query, out = ask(resolver, name)
        msg = answer_of(out)
        assert len(addresses(msg)) == 3
        # the answer keeps the name as asked (DNS 0x20 clients compare it)
        assert msg.answer[0].name == query.question[0].name
    assert {name for _, name, _ in book.asked} == {"web"}
    assert {cid for cid, _, _ in book.asked} == {"c1"}


def test_aaaa_answers_and_v4_only_name_gets_noerror_empty():
    resolver = Resolver(Book())
    msg = answer_of(ask(resolver, "db", "AAAA")[1])
    assert addresses(msg) == ["fd00::9"] and msg.answer[0].ttl == 600
    msg = answer_of(ask(resolver, "web", "AAAA")[1])
    assert msg.rcode() == dns.rcode.NOERROR and msg.answer == []
    msg = answer_of(ask(resolver, "v6only", "A")[1])
    assert msg.rcode() == dns.rcode.NOERROR and msg.answer == []


def test_lookup_empty_list_is_noerror_empty_not_forward():
    resolver = Resolver(lambda cid, name, qtype: [] if name == "known" else None)
    msg = answer_of(ask(resolver, "known")[1])
    assert msg.rcode() == dns.rcode.NOERROR and msg.answer == []
    assert isinstance(ask(resolver, "unknown")[1], Forward)


def test_unknown_name_is_forwarded_unchanged():
    query = dns.message.make_query("example.org", "A")
    wire = query.to_wire()
    out = Resolver(Book()).handle("c1", wire)
    assert isinstance(out, Forward)
    assert out.wire == wire and out.max_size == 512
    assert out.query.id == query.id


def test_forward_keeps_client_size_limits():
    resolver = Resolver(Book())
    _, out = ask(resolver, "example.org", use_edns=0, payload=4000)
    assert isinstance(out, Forward) and out.max_size == 4000
    _, out = ask(resolver, "example.org", use_edns=0, payload=100)
    assert isinstance(out, Forward) and out.max_size == 512
    _, out = ask(resolver, "example.org", tcp=True)
    assert isinstance(out, Forward) and out.max_size == 65535


def test_search_domain_suffix_is_not_special():
    book = Book()
    _, out = ask(Resolver(book), "web.example.com")
    assert isinstance(out, Forward)
    assert book.asked == [("c1", "web.example.com", "A")]


def test_other_types_for_our_names_are_noerror_empty_else_forwarded():
    resolver = Resolver(Book())
    for qtype in ("MX", "TXT", "SRV", "CNAME", "ANY"):
        msg = answer_of(ask(resolver, "web", qtype)[1])
        assert msg.rcode() == dns.rcode.NOERROR and msg.answer == [], qtype
        assert isinstance(ask(resolver, "example.org", qtype)[1], Forward), qtype


def test_non_in_class_and_root_are_forwarded():
    book = Book()
    resolver = Resolver(book)
    assert isinstance(ask(resolver, "web", "A", rdclass=dns.rdataclass.CH)[1], Forward)
    assert isinstance(ask(resolver, ".", "NS")[1], Forward)
    assert book.asked == []


def test_ptr_from_reverse_callback():
    asked = []

    def reverse(cid, ip):
        asked.append((cid, ip))
        return {"172.18.0.2": "web.mynet", "fd00::9": "db.mynet."}.get(ip)

    resolver = Resolver(Book(), reverse)
    msg = answer_of(ask(resolver, dns.reversename.from_address("172.18.0.2"), "PTR")[1])
    assert [rd.target.to_text() for rd in msg.answer[0]] == ["web.mynet."]
    assert msg.answer[0].ttl == 600
    msg = answer_of(ask(resolver, dns.reversename.from_address("fd00::9"), "PTR")[1])
    assert [rd.target.to_text() for rd in msg.answer[0]] == ["db.mynet."]
    assert isinstance(ask(resolver, dns.reversename.from_address("8.8.8.8"), "PTR")[1], Forward)
    assert asked == [("c1", "172.18.0.2"), ("c1", "fd00::9"), ("c1", "8.8.8.8")]
    # without the callback, PTR goes upstream
    out = ask(Resolver(Book()), dns.reversename.from_address("172.18.0.2"), "PTR")[1]
    assert isinstance(out, Forward)


def test_lookup_that_raises_gives_servfail():
    def broken(cid, name, qtype):
        raise RuntimeError("boom")

    query, out = ask(Resolver(broken), "web")
    msg = answer_of(out)
    assert msg.id == query.id and msg.rcode() == dns.rcode.SERVFAIL


def test_bad_addresses_from_lookup_are_skipped():
    resolver = Resolver(Book({"x": ["not-an-ip", "10.0.0.1", "fd00::1", "10.0.0.1"]}))
    assert addresses(answer_of(ask(resolver, "x")[1])) == ["10.0.0.1"]
    assert addresses(answer_of(ask(resolver, "x", "AAAA")[1])) == ["fd00::1"]


def test_many_addresses_truncate_over_udp_but_not_tcp():
    many = {"big": [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(100)]}
    resolver = Resolver(Book(many))
    _, out = ask(resolver, "big")
    assert len(out) <= 512
    msg = answer_of(out)
    assert msg.flags & dns.flags.TC
    assert 20 < len(addresses(msg)) < 100  # as many records as fit, like moby's truncateResp
    _, out = ask(resolver, "big", tcp=True)
    msg = answer_of(out)
    assert not msg.flags & dns.flags.TC and len(addresses(msg)) == 100
    _, out = ask(resolver, "big", use_edns=0, payload=4096)
    msg = answer_of(out)
    assert not msg.flags & dns.flags.TC and len(addresses(msg)) == 100


def header(ident=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def test_garbage_is_dropped_or_answered_with_formerr():
    resolver = Resolver(Book())
    assert resolver.handle("c1", b"") is None
    assert resolver.handle("c1", b"\x01\x02\x03") is None
    # a response (QR set) is never answered: no loops between servers
    response = dns.message.make_response(dns.message.make_query("web", "A"))
    assert resolver.handle("c1", response.to_wire()) is None
    # header says one question, body is missing
    out = answer_of(resolver.handle("c1", header()))
    assert out.id == 0x1234 and out.rcode() == dns.rcode.FORMERR
    assert out.flags & dns.flags.QR and out.flags & dns.flags.RD
    # two questions: miekg/dns (Docker's server) rejects them
    query = dns.message.make_query("web", "A")
    wire = bytearray(query.to_wire())
    wire[4:6] = b"\x00\x02"
    assert answer_of(resolver.handle("c1", bytes(wire))).rcode() == dns.rcode.FORMERR


def test_other_opcodes_are_notimp():
    resolver = Resolver(Book())
    for opcode in (dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS):
        out = resolver.handle("c1", header(flags=opcode << 11))
        assert isinstance(out, bytes)
        ident, flags = struct.unpack_from("!HH", out)
        assert ident == 0x1234 and flags & 0x8000 and flags & 0xF == dns.rcode.NOTIMP
        assert (flags >> 11) & 0xF == opcode


def test_random_bytes_never_raise():
    resolver = Resolver(Book())
    rng = random.Random(5)
    valid = dns.message.make_query("web", "A").to_wire()
    for i in range(3000):
        if i % 2:
            data = rng.randbytes(rng.randrange(0, 80))
        else:  # mutate a valid query: the interesting corner
            data = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[: rng.randrange(len(data) + 1)])
        out = resolver.handle("c1", data)
        assert out is None or isinstance(out, (bytes, Forward))
        if isinstance(out, bytes):
            assert out[:2] == data[:2] and out[2] & 0x80


def test_parse_server():
    assert edns.parse_server("10.0.0.2") == ("10.0.0.2", 53)
    assert edns.parse_server(" 127.0.0.53 ") == ("127.0.0.53", 53)
    assert edns.parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert edns.parse_server("fd00::1") == ("fd00::1", 53)
    assert edns.parse_server("[fd00::1]:5300") == ("fd00::1", 5300)
    assert edns.parse_server("[fd00::1]") == ("fd00::1", 53)
    assert edns.parse_server("fe80::1%eth0") == ("fe80::1%eth0", 53)
    for bad in ("", "dns.google", "1.2.3.4:0", "1.2.3.4:70000", "[::1]x", "1.2.3.4:x"):
        assert edns.parse_server(bad) is None, bad


def test_relay_helpers():
    query = dns.message.make_query("example.org", "A")
    wire = query.to_wire()
    response = dns.message.make_response(query)
    for i in range(60):
        response.find_rrset(response.answer, query.question[0].name, 1, 1, create=True).add(
            dns.rdata.from_text(1, 1, f"192.0.2.{i + 1}"), 300
        )
    reply = response.to_wire()
    assert edns.is_reply_to(reply, wire) and not edns.is_reply_to(wire, wire)
    assert not edns.is_reply_to(reply[:11], wire)
    assert edns.reply_rcode(edns.servfail(query)) == dns.rcode.SERVFAIL
    assert len(reply) > 512 and edns.fit_relay(reply, 4096) == reply
    small = edns.fit_relay(reply, 512)
    assert len(small) <= 512 and edns.is_truncated(small) and small[:2] == wire[:2]
    junk = reply[:12] + b"\xff" * 600
    cut = edns.fit_relay(junk, 512)
    assert len(cut) == 12 and edns.is_truncated(cut)

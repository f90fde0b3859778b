"""The embedded DNS's names (network/dnsview.py): pure, no root."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from dockyard.network import dnsview

pytestmark = pytest.mark.unit

A, B, C = "a" * 64, "b" * 64, "c" * 64
NETS = {"n1": NS(name="front", user_defined=True), "n2": NS(name="back", user_defined=True),
        "br": NS(name="bridge", user_defined=False)}


def view() -> dnsview.DNSView:
    endpoints = {A: {"n1": NS(ipv4="10.0.1.2", ipv6="fd00::2"), "br": NS(ipv4="172.17.0.2",
                                                                         ipv6="")},
                 B: {"n1": NS(ipv4="10.0.1.3", ipv6=""), "n2": NS(ipv4="10.0.2.3", ipv6="")},
                 C: {"n2": NS(ipv4="10.0.2.4", ipv6="")}}
    wanted = {A: {"n1": NS(aliases=["svc"], links=[])},
              B: {"n1": NS(aliases=["svc"], links=["web:db"]), "n2": NS(aliases=[], links=[])},
              C: {"n2": NS(aliases=[], links=[])}}
    return dnsview.build(endpoints, NETS, wanted, {A: "web", B: "api", C: "store"},
                         {B: ["10.9.9.9"]})


def test_names_aliases_and_round_robin_members():
    v = view()
    assert v.lookup(B, "svc", "A") == ["10.0.1.2", "10.0.1.3"]
    assert v.lookup(B, "WEB.", "A") == ["10.0.1.2"]
    assert v.lookup(B, "web.front", "AAAA") == ["fd00::2"]
    assert v.lookup(B, A[:12], "A") == ["10.0.1.2"]
    assert v.lookup(B, "web", "MX") == []  # known name, no such record


def test_only_shared_user_networks_answer():
    v = view()
    assert v.lookup(C, "web", "A") is None  # web is not on back
    assert v.lookup(C, "api", "A") == ["10.0.2.3"]
    assert v.lookup(A, "store", "A") is None
    assert v.lookup("unknown", "web", "A") is None


def test_link_alias_is_for_the_linking_container_only():
    v = view()
    assert v.lookup(B, "db", "A") == ["10.0.1.2"]
    assert v.lookup(A, "db", "A") is None


def test_servers_are_the_containers_own():
    v = view()
    assert v.servers(B) == ["10.9.9.9"] and v.servers(A) == [] and v.servers("x") == []

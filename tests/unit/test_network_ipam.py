"""IPAM: pools, allocation, release, persistence, overlap with the host (pure, fake stores)."""

import ipaddress
import json

import pytest

from dockyard.network.ipam import IPAM, IPAMError, default_pools
from dockyard.network.store import JSONFileStore, MemoryStore

pytestmark = pytest.mark.unit
N = ipaddress.IPv4Network
A = ipaddress.IPv4Address


def test_default_pools_are_dockers():
    pools = default_pools()
    assert pools[0] == N("172.17.0.0/16")
    assert pools[1] == N("172.18.0.0/16")
    assert pools[14] == N("172.31.0.0/16")
    assert pools[15] == N("192.168.0.0/20")
    assert pools[-1] == N("192.168.240.0/20")


def test_first_pool_is_default_bridge_and_gateway_is_dot_one():
    ipam = IPAM(MemoryStore())
    pool = ipam.add_pool("bridge")
    assert pool.subnet == N("172.17.0.0/16")
    assert pool.gateway == A("172.17.0.1")
    assert ipam.add_pool("net2").subnet == N("172.18.0.0/16")


def test_pool_skips_host_networks():
    ipam = IPAM(MemoryStore(), host_networks=lambda: [N("172.17.5.0/24"), N("172.18.0.0/15")])
    assert ipam.add_pool("bridge").subnet == N("172.20.0.0/16")


def test_explicit_subnet_overlap_is_refused():
    ipam = IPAM(MemoryStore())
    ipam.add_pool("a", "10.9.0.0/16")
    with pytest.raises(IPAMError, match="overlaps"):
        ipam.add_pool("b", "10.9.3.0/24")
    assert ipam.add_pool("a", "10.9.0.0/16").subnet == N("10.9.0.0/16")  # idempotent
    with pytest.raises(IPAMError):
        ipam.add_pool("a", "10.10.0.0/16")


def test_exhausted_default_pools():
    ipam = IPAM(MemoryStore(), pools=[N("10.1.0.0/24")])
    ipam.add_pool("a")
    with pytest.raises(IPAMError, match="non-overlapping"):
        ipam.add_pool("b")


def test_gateway_must_be_a_host_address():
    ipam = IPAM(MemoryStore())
    with pytest.raises(IPAMError):
        ipam.add_pool("a", "10.2.0.0/24", "10.3.0.1")
    with pytest.raises(IPAMError):
        ipam.add_pool("a", "10.2.0.0/24", "10.2.0.255")
    assert ipam.add_pool("a", "10.2.0.0/24", "10.2.0.254").gateway == A("10.2.0.254")


def test_allocate_lowest_free_never_twice_and_release():
    ipam = IPAM(MemoryStore())
    ipam.add_pool("n", "10.4.0.0/29")  # hosts .1-.6, gateway .1
    got = [ipam.allocate("n", f"c{i}") for i in range(5)]
    assert got == [A(f"10.4.0.{i}") for i in range(2, 7)]
    with pytest.raises(IPAMError, match="no available"):
        ipam.allocate("n", "c9")
    assert ipam.release("n", "c2") == [A("10.4.0.4")]
    assert ipam.release("n", "c2") == []
    assert ipam.allocate("n", "c9") == A("10.4.0.4")
    assert ipam.allocate("n", "c9") == A("10.4.0.4")  # same owner, same address


def test_allocate_specific_address():
    ipam = IPAM(MemoryStore())
    ipam.add_pool("n", "10.5.0.0/24")
    assert ipam.allocate("n", "a", "10.5.0.77") == A("10.5.0.77")
    with pytest.raises(IPAMError, match="already in use"):
        ipam.allocate("n", "b", "10.5.0.77")
    for bad in ("10.5.0.1", "10.5.0.0", "10.5.0.255", "10.6.0.3"):
        with pytest.raises(IPAMError):
            ipam.allocate("n", "b", bad)
    assert ipam.owner_of("n", "10.5.0.77") == "a"


def test_unknown_pool():
    with pytest.raises(IPAMError, match="no address pool"):
        IPAM(MemoryStore()).allocate("nope", "a")


def test_state_survives_reload_and_release_unless(scratch):
    store = JSONFileStore(scratch / "ipam.json")
    ipam = IPAM(store)
    ipam.add_pool("bridge")
    ipam.allocate("bridge", "keep")
    ipam.allocate("bridge", "gone")
    again = IPAM(JSONFileStore(scratch / "ipam.json"))
    assert again.pools()["bridge"].allocations == {"172.17.0.2": "keep", "172.17.0.3": "gone"}
    dropped = again.release_unless(lambda owner: owner == "keep")
    assert dropped == [("bridge", A("172.17.0.3"), "gone")]
    assert IPAM(store).allocate("bridge", "new") == A("172.17.0.3")
    assert json.loads((scratch / "ipam.json").read_text())["pools"]["bridge"]["gateway"] == (
        "172.17.0.1"
    )
    assert not list(scratch.glob(".*tmp"))


def test_every_change_is_saved():
    store = MemoryStore()
    ipam = IPAM(store)
    ipam.add_pool("n", "10.7.0.0/24")
    ipam.allocate("n", "a")
    ipam.release("n", "a")
    assert store.saves == 3
    ipam.remove_pool("n")
    assert store.load() == {"pools": {}}

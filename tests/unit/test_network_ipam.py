"""IPAM: default pools, pool planning (pure) and allocation on a real metadata.db."""

import ipaddress
import threading

import pytest

from dockyard.network.errors import Forbidden, InvalidParameter
from dockyard.network.ipam import (
    IPAM,
    AddressInUse,
    AddressPool,
    IPAMError,
    PoolConfig,
    default_pools,
    docker_default_pools,
    plan_pools,
)
from dockyard.store.metadata import MetadataStore

pytestmark = pytest.mark.unit
N = ipaddress.ip_network
A = ipaddress.ip_address


@pytest.fixture
def meta(tmp_path):
    with MetadataStore(tmp_path) as m:
        yield m


def plan(request=None, *, taken=(), v6=False, pools=None, host=()):
    return plan_pools(request, enable_ipv6=v6, taken=[N(t) for t in taken],
                      candidates=default_pools(pools), host_networks=lambda: [N(h) for h in host],
                      seed="x")


def test_default_pools_are_dockers():
    pools = list(default_pools())
    assert pools[0] == N("172.17.0.0/16")
    assert pools[1] == N("172.18.0.0/16")
    assert pools[14] == N("172.31.0.0/16")
    assert pools[15] == N("192.168.0.0/20")
    assert pools[-1] == N("192.168.240.0/20")
    assert len(docker_default_pools()) == 16


def test_address_pool_flag():
    pool = AddressPool.parse("base=10.9.0.0/16,size=24")
    assert pool == AddressPool(N("10.9.0.0/16"), 24)
    assert list(default_pools([pool]))[:2] == [N("10.9.0.0/24"), N("10.9.1.0/24")]
    assert AddressPool.parse({"base": "10.1.0.0/16", "size": 16}).size == 16
    for bad in ("base=10.0.0.0/16", "10.0.0.0/16", "base=10.0.0.0/16,size=8", "base=x,size=24"):
        with pytest.raises(ValueError):
            AddressPool.parse(bad)


def test_plan_picks_first_free_pool_and_dot_one_gateway():
    [pool] = plan()
    assert pool.subnet == N("172.17.0.0/16") and pool.gateway == A("172.17.0.1")
    [pool] = plan(taken=["172.17.0.0/16"], host=["172.18.5.0/24"])
    assert pool.subnet == N("172.19.0.0/16")
    [pool] = plan(taken=["10.9.0.0/24"], pools=[AddressPool.parse("base=10.9.0.0/16,size=24")])
    assert pool.subnet == N("10.9.1.0/24")


def test_plan_exhausted():
    with pytest.raises(Forbidden, match="non-overlapping IPv4 address pool"):
        plan(taken=["10.9.0.0/24"], pools=[AddressPool.parse("base=10.9.0.0/24,size=24")])


def test_plan_overlap_is_refused_with_dockers_message():
    with pytest.raises(Forbidden) as err:
        plan({"Config": [{"Subnet": "10.9.1.0/24"}]}, taken=["10.9.0.0/16"])
    assert "Pool overlaps with other one on this address space" in str(err.value)
    assert err.value.status == 403
    with pytest.raises(Forbidden):
        plan({"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "10.9.0.128/25"}]})


def test_plan_explicit_config():
    [pool] = plan({"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254",
                               "IPRange": "10.9.0.128/25",
                               "AuxiliaryAddresses": {"router": "10.9.0.2"}}]})
    assert pool.gateway == A("10.9.0.254") and pool.ip_range == N("10.9.0.128/25")
    assert pool.to_docker() == {"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25",
                                "Gateway": "10.9.0.254",
                                "AuxiliaryAddresses": {"router": "10.9.0.2"}}
    assert PoolConfig.from_docker(pool.to_docker()) == pool


@pytest.mark.parametrize("entry,message", [
    ({"Subnet": "nope"}, "invalid CIDR address: nope"),
    ({"Subnet": "10.9.0.5/24"}, "it should be 10.9.0.0/24"),
    ({"Subnet": "10.9.0.0/24", "Gateway": "10.8.0.1"}, "no matching subnet for gateway"),
    ({"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.0"}, "invalid gateway"),
    ({"Subnet": "10.9.0.0/24", "IPRange": "10.8.0.0/25"}, "no matching subnet for range"),
    ({"Subnet": "10.9.0.0/24", "AuxiliaryAddresses": {"a": "10.8.0.1"}}, "aux-address"),
    ({"Gateway": "10.9.0.1"}, "need a subnet"),
    ({"Subnet": "10.9.0.0/31"}, "too small"),
])
def test_plan_bad_config(entry, message):
    with pytest.raises(InvalidParameter, match=message):
        plan({"Config": [entry]})


def test_plan_ipv6():
    with pytest.raises(InvalidParameter, match="IPv6"):
        plan({"Config": [{"Subnet": "fd00:1::/64"}]})
    pools = plan({"Config": [{"Subnet": "fd00:1::/64"}]}, v6=True)
    assert [str(p.subnet) for p in pools] == ["172.17.0.0/16", "fd00:1::/64"]
    assert pools[1].gateway == A("fd00:1::1")
    auto = plan(v6=True)
    assert auto[1].subnet.version == 6 and auto[1].subnet.prefixlen == 64
    assert str(auto[1].subnet).startswith("fd")


def test_allocate_lowest_free_never_twice_and_release(meta):
    ipam = IPAM(meta)
    pools = plan({"Config": [{"Subnet": "10.9.0.0/29"}]})
    got = [ipam.allocate("n1", pools, f"c{i}")[0] for i in range(5)]
    assert got == [A(f"10.9.0.{i}") for i in range(2, 7)]
    with pytest.raises(IPAMError, match="no available IPv4"):
        ipam.allocate("n1", pools, "c9")
    assert ipam.allocate("n1", pools, "c1")[0] == A("10.9.0.3")  # same owner, same address
    assert ipam.release("n1", "c1") == ["10.9.0.3"]
    assert ipam.allocate("n1", pools, "c7")[0] == A("10.9.0.3")
    # another network has its own addresses
    assert ipam.allocate("n2", pools, "c1")[0] == A("10.9.0.2")
    ipam.release_network("n1")
    assert ipam.allocations("n1") == []
    assert ipam.allocations("n2") == [("n2", "10.9.0.2", "c1")]


def test_allocate_specific_address_and_ranges(meta):
    ipam = IPAM(meta)
    pools = plan({"Config": [{"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25",
                              "AuxiliaryAddresses": {"r": "10.9.0.129"}}]})
    assert ipam.allocate("n", pools, "a")[0] == A("10.9.0.128")
    assert ipam.allocate("n", pools, "b")[0] == A("10.9.0.130")  # aux skipped
    assert ipam.allocate("n", pools, "c", want="10.9.0.5")[0] == A("10.9.0.5")
    with pytest.raises(AddressInUse, match="Address already in use"):
        ipam.allocate("n", pools, "d", want="10.9.0.5")
    with pytest.raises(AddressInUse):
        ipam.allocate("n", pools, "d", want="10.9.0.1")  # the gateway
    with pytest.raises(InvalidParameter, match="no configured subnet or ip-range contain"):
        ipam.allocate("n", pools, "d", want="10.10.0.5")
    assert ipam.allocate("n", pools, "d", version=6) is None


def test_allocate_ipv6(meta):
    ipam = IPAM(meta)
    pools = plan({"Config": [{"Subnet": "fd00:1::/64"}]}, v6=True)
    ip, pool = ipam.allocate("n", pools, "a", version=6)
    assert ip == A("fd00:1::2") and pool.subnet == N("fd00:1::/64")
    assert ipam.allocate("n", pools, "a", version=4)[0] == A("172.17.0.2")


def test_state_survives_reopen_and_release_unless(tmp_path):
    pools = plan({"Config": [{"Subnet": "10.9.0.0/24"}]})
    with MetadataStore(tmp_path) as meta:
        ipam = IPAM(meta)
        ipam.allocate("n", pools, "keep")
        ipam.allocate("n", pools, "drop")
    with MetadataStore(tmp_path) as meta:
        ipam = IPAM(meta)
        assert ipam.allocate("n", pools, "new")[0] == A("10.9.0.4")
        dropped = ipam.release_unless(lambda nid, owner: owner != "drop")
        assert dropped == [("n", "10.9.0.3", "drop")]
        assert sorted(o for _, _, o in ipam.allocations()) == ["keep", "new"]


def test_concurrent_allocations_never_collide(tmp_path):
    pools = plan({"Config": [{"Subnet": "10.9.0.0/24"}]})
    got, errors = [], []
    with MetadataStore(tmp_path) as meta:
        ipam = IPAM(meta)

        def work(n):
            try:
                for i in range(10):
                    got.append(ipam.allocate("n", pools, f"{n}-{i}")[0])
            except Exception as err:  # pragma: no cover - reported below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(got) == 40 == len(set(got))

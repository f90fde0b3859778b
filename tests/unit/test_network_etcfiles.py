"""/etc/hosts, /etc/resolv.conf and /etc/hostname as Docker writes them."""

from pathlib import Path

import pytest

from dockyard.network import etcfiles as ef

pytestmark = pytest.mark.unit

DEFAULTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::\tip6-localnet\n"
    "ff00::\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def test_hosts_default_bridge():
    assert ef.hosts_file("0123456789ab", "172.17.0.2") == DEFAULTS + "172.17.0.2\t0123456789ab\n"


def test_hosts_add_host_before_own_record_and_domain():
    text = ef.hosts_file(
        "web", "172.17.0.3", [("db", "10.0.0.5"), ("db", "::5")], domainname="example.org"
    )
    assert text == DEFAULTS + "10.0.0.5\tdb\n::5\tdb\n172.17.0.3\tweb.example.org web\n"


def test_hosts_none_network_and_no_ipv6():
    assert ef.hosts_file("h", None) == DEFAULTS
    assert ef.hosts_file("h", "", ipv6=False) == "127.0.0.1\tlocalhost\n"


def test_parse_add_host():
    assert ef.parse_add_host("db:10.0.0.5") == ("db", "10.0.0.5")
    assert ef.parse_add_host("db=10.0.0.5") == ("db", "10.0.0.5")
    assert ef.parse_add_host("v6:[::1]") == ("v6", "::1")
    assert ef.parse_add_host("gw:host-gateway", "172.17.0.1") == ("gw", "172.17.0.1")
    for bad in ("db", "db:", ":1.2.3.4", "db:notanip"):
        with pytest.raises(ValueError):
            ef.parse_add_host(bad)
    with pytest.raises(ValueError):
        ef.parse_add_host("gw:host-gateway")


def test_hostname_file():
    assert ef.hostname_file("abc") == "abc\n"


HOST = (
    "# host file\nsearch corp.example\nnameserver 10.1.1.1\nnameserver 127.0.0.1\noptions ndots:2\n"
)


def test_resolv_conf_keeps_host_file_and_drops_loopback():
    assert ef.resolv_conf(HOST) == (
        "# host file\nsearch corp.example\nnameserver 10.1.1.1\noptions ndots:2\n"
    )


def test_resolv_conf_falls_back_to_google_on_default_bridge():
    text = "nameserver 127.0.0.53\nnameserver ::1\nnameserver fe80::1\nsearch lan\n"
    assert ef.resolv_conf(text) == "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert ef.resolv_conf("nameserver 127.0.0.1\n", ipv6=True) == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        "nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n"
    )
    assert ef.resolv_conf("nameserver fe80::1\n", ipv6=True) == "nameserver fe80::1\n"
    assert ef.resolv_conf("", legacy_bridge=False) == "\n"


def test_resolv_conf_overrides():
    assert ef.resolv_conf(HOST, dns=["1.1.1.1", "9.9.9.9"]) == (
        "search corp.example\nnameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n"
    )
    assert ef.resolv_conf(HOST, dns_search=["a.example", "b.example"], dns_options=["rotate"]) == (
        "search a.example b.example\nnameserver 10.1.1.1\noptions rotate\n"
    )
    assert ef.resolv_conf(HOST, dns_search=["."]) == "nameserver 10.1.1.1\noptions ndots:2\n"


def test_pick_host_resolv_conf_systemd_stub():
    files = {
        ef.HOST_RESOLV_CONF: "nameserver 127.0.0.53\noptions edns0\n",
        ef.SYSTEMD_RESOLV_CONF: "nameserver 192.0.2.53\n",
    }
    assert ef.pick_host_resolv_conf(files.get) == (
        ef.SYSTEMD_RESOLV_CONF,
        "nameserver 192.0.2.53\n",
    )
    files[ef.HOST_RESOLV_CONF] = "nameserver 127.0.0.53\nnameserver 10.0.0.1\n"
    assert ef.pick_host_resolv_conf(files.get)[0] == ef.HOST_RESOLV_CONF
    only = {ef.HOST_RESOLV_CONF: "nameserver 127.0.0.53\n"}
    assert ef.pick_host_resolv_conf(only.get) == (ef.HOST_RESOLV_CONF, "nameserver 127.0.0.53\n")
    assert ef.pick_host_resolv_conf(lambda p: None) == (Path("/etc/resolv.conf"), "")


def test_container_etc_files_per_mode():
    host_resolv = "nameserver 127.0.0.53\nsearch lan\n"
    bridge = ef.container_etc_files(
        "bridge",
        hostname="abc",
        ip="172.17.0.2",
        extra_hosts=[("db", "10.0.0.5")],
        host_resolv=host_resolv,
    )
    assert bridge["hosts"] == DEFAULTS + "10.0.0.5\tdb\n172.17.0.2\tabc\n"
    assert bridge["resolv.conf"] == "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert bridge["hostname"] == "abc\n"
    none = ef.container_etc_files("none", hostname="abc", ip="x", host_resolv=host_resolv)
    assert none["hosts"] == DEFAULTS
    host = ef.container_etc_files(
        "host",
        hostname="myhost",
        extra_hosts=[("db", "10.0.0.5")],
        host_hosts="127.0.0.1 localhost myhost",
        host_resolv=host_resolv,
    )
    assert host["hosts"] == "127.0.0.1 localhost myhost\n10.0.0.5\tdb\n"
    assert host["resolv.conf"] == host_resolv
    assert host["hostname"] == "myhost\n"
    dns = ef.container_etc_files("host", hostname="h", dns=["1.1.1.1"], host_resolv=host_resolv)
    assert dns["resolv.conf"] == "search lan\nnameserver 1.1.1.1\n"
    with pytest.raises(ValueError):
        ef.container_etc_files("container:x", hostname="h")

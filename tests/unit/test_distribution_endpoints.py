"""Which URL and scheme serve a registry host."""

from __future__ import annotations

import pytest

from dockyard.distribution.endpoints import (
    Endpoint,
    InsecureRegistries,
    endpoints_for,
    is_loopback,
    normalize_host,
)

pytestmark = pytest.mark.unit

HTTPS, HTTP = True, False

CASES = [
    # (host, insecure, mirrors, push, [(url, verify_tls, mirror)])
    ("docker.io", (), (), False, [("https://registry-1.docker.io", True, False)]),
    ("index.docker.io", (), (), False, [("https://registry-1.docker.io", True, False)]),
    ("registry-1.docker.io", (), (), False, [("https://registry-1.docker.io", True, False)]),
    ("docker.io", (), ("https://mirror.example", "127.0.0.1:5001"), False,
     [("https://mirror.example", True, True), ("http://127.0.0.1:5001", True, True),
      ("https://registry-1.docker.io", True, False)]),
    ("docker.io", ("mirror.example",), ("https://mirror.example/",), False,
     [("https://mirror.example", False, True), ("https://registry-1.docker.io", True, False)]),
    ("docker.io", (), ("https://mirror.example",), True, [("https://registry-1.docker.io", True,
                                                          False)]),
    ("quay.io", (), ("https://mirror.example",), False, [("https://quay.io", True, False)]),
    ("localhost", (), (), False, [("http://localhost", True, False)]),
    ("localhost:5000", (), (), False, [("http://localhost:5000", True, False)]),
    ("127.0.0.1:5000", (), (), False, [("http://127.0.0.1:5000", True, False)]),
    ("127.1.2.3", (), (), False, [("http://127.1.2.3", True, False)]),
    ("[::1]:5000", (), (), False, [("http://[::1]:5000", True, False)]),
    ("::1", (), (), False, [("http://[::1]", True, False)]),
    ("registry.example:5000", (), (), False, [("https://registry.example:5000", True, False)]),
    ("Registry.Example:5000", ("registry.example:5000",), (), False,
     [("https://registry.example:5000", False, False), ("http://registry.example:5000", True,
                                                        False)]),
    ("registry.example:5000", ("registry.example",), (), False,
     [("https://registry.example:5000", False, False), ("http://registry.example:5000", True,
                                                        False)]),
    ("registry.example:5000", ("registry.example:6000",), (), False,
     [("https://registry.example:5000", True, False)]),
    ("10.1.2.3:5000", ("10.0.0.0/8",), (), False,
     [("https://10.1.2.3:5000", False, False), ("http://10.1.2.3:5000", True, False)]),
    ("11.1.2.3:5000", ("10.0.0.0/8",), (), False, [("https://11.1.2.3:5000", True, False)]),
    ("[fd00::5]:5000", ("fd00::/8",), (), False,
     [("https://[fd00::5]:5000", False, False), ("http://[fd00::5]:5000", True, False)]),
    ("myreg:5000", ("http://myreg:5000",), (), False,
     [("https://myreg:5000", False, False), ("http://myreg:5000", True, False)]),
]


@pytest.mark.parametrize(("host", "insecure", "mirrors", "push", "expected"), CASES)
def test_endpoints_for(host, insecure, mirrors, push, expected):
    found = endpoints_for(host, insecure=insecure, mirrors=mirrors, push=push)
    assert [(e.url, e.verify_tls, e.mirror) for e in found] == expected


@pytest.mark.parametrize("bad", ["ftp://m.example", "https://m.example/path", "https://"])
def test_bad_mirrors(bad):
    with pytest.raises(ValueError):
        endpoints_for("docker.io", mirrors=[bad])


def test_bad_cidr():
    with pytest.raises(ValueError):
        InsecureRegistries.parse(["10.0.0.0/99"])


@pytest.mark.parametrize(("host", "expected"), [
    ("localhost", True), ("localhost:5000", True), ("foo.localhost", True),
    ("127.0.0.1", True), ("127.255.0.9:80", True), ("[::1]:5000", True), ("::1", True),
    ("10.0.0.1", False), ("localhost.example", False), ("example.com", False),
])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("docker.io", "docker.io"), ("index.docker.io", "docker.io"),
    ("https://index.docker.io/v1/", "docker.io"), ("registry-1.docker.io", "docker.io"),
    ("HTTPS://Reg.Example:5000/v2/", "reg.example:5000"), ("localhost:5000", "localhost:5000"),
])
def test_normalize_host(raw, expected):
    assert normalize_host(raw) == expected


def test_endpoint_api_and_host():
    ep = Endpoint("http://127.0.0.1:5000")
    assert ep.host == "127.0.0.1:5000"
    assert str(ep.api("a/b/manifests/latest")) == "http://127.0.0.1:5000/v2/a/b/manifests/latest"
    assert str(ep.api("")) == "http://127.0.0.1:5000/v2/"

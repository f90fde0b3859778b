"""Upload Location handling, Link pagination, repository and reference checks."""

from __future__ import annotations

import pytest
from yarl import URL

from dockyard.distribution.urls import (
    add_query,
    check_reference,
    check_repository,
    next_link,
    resolve_location,
)

pytestmark = pytest.mark.unit

BASE = URL("http://reg:5000/v2/a/b/blobs/uploads/", encoded=True)


@pytest.mark.parametrize(("location", "expected"), [
    ("/v2/a/b/blobs/uploads/u1?_state=abc%3D%3D",
     "http://reg:5000/v2/a/b/blobs/uploads/u1?_state=abc%3D%3D"),
    ("http://reg:5000/v2/a/b/blobs/uploads/u1?_state=x",
     "http://reg:5000/v2/a/b/blobs/uploads/u1?_state=x"),
    ("https://storage.example/up/u1?sig=a%2Bb&x=1", "https://storage.example/up/u1?sig=a%2Bb&x=1"),
    ("u2?s=1", "http://reg:5000/v2/a/b/blobs/uploads/u2?s=1"),
    ("/v2/a/b/blobs/uploads/u3", "http://reg:5000/v2/a/b/blobs/uploads/u3"),
])
def test_resolve_location_keeps_query_bytes(location, expected):
    assert str(resolve_location(BASE, location)) == expected


@pytest.mark.parametrize(("location", "expected"), [
    ("http://r/v2/x/blobs/uploads/u?_state=abc%3D%3D",
     "http://r/v2/x/blobs/uploads/u?_state=abc%3D%3D&digest=sha256%3A00"),
    ("http://r/v2/x/blobs/uploads/u?sig=a%2Bb+c", "http://r/v2/x/blobs/uploads/u?sig=a%2Bb+c"
                                                 "&digest=sha256%3A00"),
    ("http://r/v2/x/blobs/uploads/u", "http://r/v2/x/blobs/uploads/u?digest=sha256%3A00"),
])
def test_add_query_appends_without_reencoding(location, expected):
    url = add_query(URL(location, encoded=True), digest="sha256:00")
    assert str(url) == expected
    assert url.raw_path_qs == expected.split("http://r", 1)[1]


@pytest.mark.parametrize(("header", "expected"), [
    ('</v2/a/tags/list?n=2&last=b>; rel="next"', "http://reg:5000/v2/a/tags/list?n=2&last=b"),
    ('<http://other/v2/a/tags/list?last=b&n=2>; rel=next', "http://other/v2/a/tags/list?last=b&n=2"),
    ('</first>; rel="prev", </v2/a/tags/list?last=c>; type="x"; rel="next"',
     "http://reg:5000/v2/a/tags/list?last=c"),
    ('</x>; rel="next prefetch"', "http://reg:5000/x"),
    ('</x>; rel="prev"', None),
    ("", None),
    (None, None),
    ("garbage", None),
])
def test_next_link(header, expected):
    base = URL("http://reg:5000/v2/a/tags/list?n=2")
    found = next_link(header, base)
    assert (str(found) if found else None) == expected


@pytest.mark.parametrize("name", ["library/busybox", "a", "a/b/c", "my-app", "my__app", "a.b_c-d",
                                  "x" * 255])
def test_good_repository(name):
    assert check_repository(name) == name


@pytest.mark.parametrize("name", ["", "Library/busybox", "a/../b", "/a", "a/", "a//b", "-a",
                                  "a_", "a___b", "localhost:5000/a", "x" * 256, "a?b", "a%2fb"])
def test_bad_repository(name):
    with pytest.raises(ValueError):
        check_repository(name)


@pytest.mark.parametrize("ref", ["latest", "v1.0", "_x", "A-b.c_d", "a" * 128, "sha256:" + "a" * 64,
                                 "sha512:" + "b" * 128])
def test_good_reference(ref):
    assert check_reference(ref) == ref


@pytest.mark.parametrize("ref", ["", ".x", "-x", "a" * 129, "sha256:abc", "sha256:" + "A" * 64,
                                 "a/b", "../x", "md5:" + "a" * 32, "a b"])
def test_bad_reference(ref):
    with pytest.raises(ValueError):
        check_reference(ref)

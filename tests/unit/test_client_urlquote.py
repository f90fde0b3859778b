"""The client's percent-encoding (no ``urllib.parse`` at start-up) is urllib's."""

from __future__ import annotations

import random
from urllib.parse import quote, quote_plus, urlencode

import pytest

from dockyard.client import transport

pytestmark = pytest.mark.unit

TEXTS = ["", "abc", "a b", "a+b", "docker.io/library/x:1.0@sha256:ab", "x/y z?&=#%",
         "caf\u00e9", "\u4e2d\u6587", "\U0001f600", "~_.-", "a\nb\tc", "!*'();:@&=+$,/?#[]"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("safe", ["", "/", "/:@"])
def test_quote_is_urllib_quote(text: str, safe: str) -> None:
    assert transport.quote(text, safe) == quote(text, safe=safe)
    assert transport.quote_plus(text, safe) == quote_plus(text, safe=safe)


def test_quote_random_text() -> None:
    rng = random.Random(7)
    alphabet = "aZ09 /:@?&=+%#~._-\u00e9\u4e2d\U0001f600\n"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        assert transport.quote_name(text) == quote(text, safe="/:@")
        assert transport.quote(text, "") == quote(text, safe="")


def test_query_string_is_urlencode() -> None:
    params = {"all": True, "size": False, "none": None, "names": ["a b", "c&d"],
              "filters": {"label": {"k=v w": True}}, "n": 5, "since": "2026-11-28T15:52:52+01:00"}
    expected = urlencode([("all", "1"), ("size", "0"), ("names", "a b"), ("names", "c&d"),
                          ("filters", '{"label":{"k=v w":true}}'), ("n", "5"),
                          ("since", "2026-11-28T15:52:52+01:00")])
    assert transport.query_string(params) == "?" + expected
    assert transport.query_string({"a": None}) == ""
    assert transport.query_string([("t", "x"), ("t", "y")]) == "?t=x&t=y"

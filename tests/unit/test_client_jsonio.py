"""``dockyard.client.jsonio`` gives what ``json`` gives: values, and the same exceptions
with the same messages."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from dockyard.client import jsonio

pytestmark = pytest.mark.unit


def outcome(fn: Any, *args: Any, **kw: Any) -> tuple[str, str]:
    try:
        return "ok", repr(fn(*args, **kw))
    except Exception as exc:
        return type(exc).__name__, str(exc)


DOCUMENTS: list[bytes | str] = [
    b'{"Id": "abc", "State": {"Running": true, "Pid": 42}, "Names": ["/x"], "N": null}',
    b'  [1, -2, 3.5, -4e10, 1.5e400, 12345678901234567890123] \r\n',
    b'"caf\\u00e9 \xc3\xa9"', b'{"a": 1, "a": 2}', b'[NaN, Infinity, -Infinity]', b'"\\ud800"',
    b"", b"  ", b"{", b"[1] x", b"[1]\n[2]", b'{"a" 1}', b'"a\x01"', b'"\xff"', b"1\x00",
    b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"), '{"b": [2]}'.encode("utf-32"),
    "\ufeff1", '{"str": "yes"}', b"tru", b"-", b"[" * 5 + b"]" * 5,
]


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_loads_is_json_loads(doc: bytes | str) -> None:
    assert outcome(jsonio.loads, doc) == outcome(json.loads, doc)


def test_loads_nan_and_bytearray() -> None:
    assert math.isnan(jsonio.loads(b"NaN"))
    assert jsonio.loads(bytearray(b'{"a": [true]}')) == {"a": [True]}


@pytest.mark.parametrize(("text", "pos"), [
    ('{"a": 1} {"b": 2}', 0), ('{"a": 1} {"b": 2}', 9), ('{"a": 1} {"b": 2}', 8),
    ("x", 0), ("[1, ", 0), ("", 0),
])
def test_raw_decode_is_json_raw_decode(text: str, pos: int) -> None:
    assert (outcome(jsonio.raw_decode, text, pos)
            == outcome(json.JSONDecoder().raw_decode, text, pos))


circular: list[Any] = []
circular.append(circular)

VALUES: list[Any] = [
    {"Image": "busybox", "Cmd": ["echo", "hi"], "Tty": False, "Env": None, "N": 1.5},
    {"label": {"a=b": True}}, [], {}, "caf\u00e9\n\"", {"k\u4e2d": ["\U0001f600\x01"]},
    1.0, 10**30, float("inf"),
    float("nan"), {1: "int key", None: "none", 2.5: "float", False: "bool"},
    {"set": {1, 2}}, {(1,): "tuple key"}, object(), circular, ("a", "tuple"),
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_dumps_is_json_dumps(value: Any, separators: tuple[str, str],
                             ensure_ascii: bool) -> None:
    kw = {"separators": separators, "ensure_ascii": ensure_ascii}
    assert outcome(jsonio.dumps, value, **kw) == outcome(json.dumps, value, **kw)


def test_dumps_after_an_error_still_encodes() -> None:
    with pytest.raises(TypeError):
        jsonio.dumps({"a": [{"b": object()}]})
    value = {"a": [{"b": 1}]}
    assert jsonio.dumps(value) == json.dumps(value) == '{"a": [{"b": 1}]}'

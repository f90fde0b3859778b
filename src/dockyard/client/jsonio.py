"""JSON for the client without importing :mod:`json` on the common path.

``import json`` pulls in ``re`` (and with it ``enum``, ``functools``, ``collections``):
about 10 ms of every CLI command's start-up, as much as the interpreter's own. The C
scanner and encoder that :mod:`json` uses are in ``_json`` and need none of that, so this
module drives them directly with the settings of ``json.loads``/``json.dumps``' defaults.
Anything they do not accept (errors, other encodings, a BOM, unserializable objects) is
handed to :mod:`json` itself, so results and error messages are exactly the stdlib's.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    from _json import encode_basestring as _encode_str
    from _json import encode_basestring_ascii as _encode_ascii
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
except ImportError:  # not CPython: the stdlib module does it all
    _make_scanner = _make_encoder = _encode_str = _encode_ascii = None

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE


class _Settings:
    """What ``_json.make_scanner`` reads from a ``JSONDecoder`` (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__


_scan = _make_scanner(_Settings()) if _make_scanner is not None else None


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``."""
    if _scan is not None:
        try:
            text = data.decode() if isinstance(data, bytes | bytearray) else data
            start = len(text) - len(text.lstrip(_WHITESPACE))
            value, end = _scan(text, start)
            if end == len(text.rstrip(_WHITESPACE)):
                return value
        except Exception:  # json below says what is wrong, in its own words
            pass
    import json
    return json.loads(data)


def raw_decode(text: str, pos: int = 0) -> tuple[Any, int]:
    """``json.JSONDecoder().raw_decode(text, pos)``: one value and where it ends."""
    if _scan is not None:
        try:
            return _scan(text, pos)
        except Exception:
            pass
    import json
    return json.JSONDecoder().raw_decode(text, pos)


def _unserializable(obj: Any) -> Any:
    raise TypeError  # json.dumps below raises with its message


def dumps(obj: Any, separators: tuple[str, str] = (", ", ": "),
          ensure_ascii: bool = True) -> str:
    """``json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii)``."""
    if _make_encoder is not None:
        item_sep, key_sep = separators
        # a fresh encoder per call: its circular-reference markers outlive an error
        encode = _make_encoder({}, _unserializable, _encode_ascii if ensure_ascii
                               else _encode_str, None, key_sep, item_sep, False, False, True)
        try:
            return "".join(encode(obj, 0))
        except Exception:
            pass
    import json
    return json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii)

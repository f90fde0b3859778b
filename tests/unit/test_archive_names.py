"""Entry names: lexical cleaning (as Go's filepath.Clean, then relative) and whiteouts."""

from __future__ import annotations

import pytest

from dockyard.store.archive.names import EscapesRoot, Kind, classify, clean

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("name", "parts"), [
    ("etc/passwd", ("etc", "passwd")),
    ("./etc//passwd/", ("etc", "passwd")),
    ("/etc/passwd", ("etc", "passwd")),
    ("/../etc", ("etc",)),
    ("/../../..", ()),
    ("a/b/../c", ("a", "c")),
    ("a/..", ()),
    (".", ()),
    ("", ()),
    ("...", ("...",)),
    ("..a/b..", ("..a", "b..")),
])
def test_clean(name: str, parts: tuple[str, ...]) -> None:
    assert clean(name) == parts


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "./../x", "a/../b/../../c"])
def test_clean_refuses_escapes(name: str) -> None:
    with pytest.raises(EscapesRoot):
        clean(name)


@pytest.mark.parametrize(("parts", "kind", "target"), [
    (("etc", "passwd"), Kind.PLAIN, ""),
    (("etc", ".wh.passwd"), Kind.WHITEOUT, "passwd"),
    ((".wh.etc",), Kind.WHITEOUT, "etc"),
    (("d", ".wh..wh..opq"), Kind.OPAQUE, ""),
    ((".wh..wh..opq",), Kind.OPAQUE, ""),
    ((".wh..wh.plnk",), Kind.META, ""),
    ((".wh..wh.plnk", "123"), Kind.META, ""),
    (("d", ".wh..wh.aufs"), Kind.META, ""),
    (("x.wh.y",), Kind.PLAIN, ""),
    ((".wh.a", "b"), Kind.PLAIN, ""),
    ((), Kind.PLAIN, ""),
])
def test_classify(parts: tuple[str, ...], kind: Kind, target: str) -> None:
    assert classify(parts) == (kind, target)


@pytest.mark.parametrize("base", [".wh.", ".wh..", ".wh..."])
def test_invalid_whiteouts(base: str) -> None:
    with pytest.raises(ValueError, match="invalid whiteout"):
        classify(("d", base))

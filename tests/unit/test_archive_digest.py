"""Digesting streams: hashes of what passes through, verified at EOF."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest

from dockyard.store.archive import (
    Cancelled,
    DigestingReader,
    DigestingWriter,
    DigestMismatch,
    InvalidDigest,
    SizeMismatch,
    parse_digest,
)

pytestmark = pytest.mark.unit

DATA = b"layer bytes " * 10000
SHA256 = "sha256:" + hashlib.sha256(DATA).hexdigest()
SHA512 = "sha512:" + hashlib.sha512(DATA).hexdigest()


def drain(reader: DigestingReader, size: int = 4096) -> bytes:
    out = []
    while chunk := reader.read(size):
        out.append(chunk)
    return b"".join(out)


class NoReadinto:
    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._io.read(size)


@pytest.mark.parametrize("digest", [
    "sha256:" + "a" * 64, "sha512:" + "0" * 128,
])
def test_parse_digest(digest: str) -> None:
    alg, hexpart = parse_digest(digest)
    assert f"{alg}:{hexpart}" == digest


@pytest.mark.parametrize("digest", [
    "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 64, "md5:" + "a" * 32,
    "sha256", "", "sha256:" + "g" * 64, " sha256:" + "a" * 64,
])
def test_parse_digest_refuses(digest: str) -> None:
    with pytest.raises(InvalidDigest):
        parse_digest(digest)


def test_reader_hashes_what_passes() -> None:
    r = DigestingReader(io.BytesIO(DATA))
    assert drain(r) == DATA
    assert r.digest == SHA256
    assert r.size == len(DATA)


@pytest.mark.parametrize("expected", [SHA256, SHA512])
def test_reader_verifies_at_eof(expected: str) -> None:
    r = DigestingReader(io.BytesIO(DATA), expected=expected, expected_size=len(DATA))
    drain(r)
    assert r.eof
    assert r.verify() == expected


def test_mismatch_names_expected_and_actual() -> None:
    wrong = "sha256:" + "0" * 64
    r = DigestingReader(io.BytesIO(DATA), expected=wrong, what="layer sha256:0000")
    with pytest.raises(DigestMismatch) as e:
        drain(r)
    assert e.value.expected == wrong and e.value.actual == SHA256
    assert wrong in str(e.value) and SHA256 in str(e.value)
    assert "layer sha256:0000" in str(e.value)


def test_truncated_stream_is_a_size_mismatch() -> None:
    r = DigestingReader(io.BytesIO(DATA[:-10]), expected=SHA256, expected_size=len(DATA))
    with pytest.raises(SizeMismatch) as e:
        drain(r)
    assert (e.value.expected, e.value.actual) == (len(DATA), len(DATA) - 10)


def test_overlong_stream_fails_as_soon_as_it_runs_over() -> None:
    class Endless:
        def read(self, size: int = -1) -> bytes:
            return b"x" * 4096

    r = DigestingReader(Endless(), expected_size=10_000)
    with pytest.raises(SizeMismatch):
        for _ in range(100):
            r.read(4096)
    assert r.size <= 10_000 + 4096


def test_readinto_hashes_too() -> None:
    for raw in (io.BytesIO(DATA), NoReadinto(DATA)):
        r = DigestingReader(raw, expected=SHA256)
        buf = bytearray(5000)
        got = bytearray()
        while n := r.readinto(buf):
            got += buf[:n]
        assert bytes(got) == DATA and r.verify() == SHA256


def test_drain_counts_what_was_left() -> None:
    r = DigestingReader(io.BytesIO(DATA), expected=SHA256)
    r.read(100)
    assert r.drain() == len(DATA) - 100
    assert r.eof


def test_progress_and_cancel() -> None:
    seen: list[int] = []
    cancel = threading.Event()
    r = DigestingReader(io.BytesIO(DATA), progress=seen.append, cancel=cancel)
    r.read(1000)
    r.read(1000)
    assert seen == [1000, 2000]
    cancel.set()
    with pytest.raises(Cancelled):
        r.read(1000)
    r2 = DigestingReader(io.BytesIO(DATA), cancel=lambda: True)
    with pytest.raises(Cancelled):
        r2.read(1)


def test_writer_hashes_and_passes_on() -> None:
    out = io.BytesIO()
    w = DigestingWriter(out, algorithm="sha512")
    for i in range(0, len(DATA), 777):
        w.write(memoryview(DATA)[i:i + 777])
    assert out.getvalue() == DATA
    assert w.digest == SHA512 and w.size == len(DATA)


def test_writer_handles_short_writes() -> None:
    class Trickle:
        def __init__(self) -> None:
            self.data = bytearray()

        def write(self, b) -> int:
            self.data += bytes(b[:3])
            return min(3, len(b))

    sink = Trickle()
    DigestingWriter(sink).write(b"0123456789")
    assert bytes(sink.data) == b"0123456789"

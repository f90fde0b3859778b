"""Digesting streams: hash what passes through and verify it at EOF.

A pull reads each layer once: the compressed bytes are hashed into the blob digest
on their way into the decompressor, the decompressed tar into the diff ID on its way
into the extractor (two ``DigestingReader`` s, one each side of the codec). Pushing
and committing do the mirror image with ``DigestingWriter``.

hashlib releases the GIL on large updates, so hashing in a pool thread does not stall
the daemon's event loop.
"""

from __future__ import annotations

import hashlib
import re

from .errors import DigestMismatch, InvalidDigest, SizeMismatch
from .hooks import Cancel, Progress, Reader, Writer, check_cancel, readinto

ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")


def parse_digest(digest: str) -> tuple[str, str]:
    """``sha256:<hex>`` -> ("sha256", "<hex>"); InvalidDigest for anything else."""
    m = _DIGEST.fullmatch(digest) if isinstance(digest, str) else None
    if m is None:
        raise InvalidDigest(str(digest))
    return (m[1], m[2]) if m[1] else (m[3], m[4])


class Digester:
    """A hash and a byte count, ``digest`` formatted as ``<algorithm>:<hex>``."""

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in ALGORITHMS:
            raise InvalidDigest(f"{algorithm}:")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"


class DigestingReader:
    """Wraps a stream; hashes and counts what is read; verifies at EOF.

    ``expected`` (a digest, whose algorithm is the one used) and ``expected_size``
    are checked when the wrapped stream reports EOF, or by ``verify()``. Reading past
    ``expected_size`` fails at once, so an endless stream cannot run on. ``what``
    names the stream in errors ("layer sha256:...").
    """

    def __init__(
        self,
        raw: Reader,
        *,
        expected: str | None = None,
        expected_size: int | None = None,
        algorithm: str = "sha256",
        what: str = "content",
        cancel: Cancel = None,
        progress: Progress = None,
    ) -> None:
        if expected is not None:
            algorithm, _ = parse_digest(expected)
        self._raw = raw
        self._digester = Digester(algorithm)
        self.expected = expected
        self.expected_size = expected_size
        self.what = what
        self._cancel = cancel
        self._progress = progress
        self.eof = False

    @property
    def digest(self) -> str:
        return self._digester.digest

    @property
    def size(self) -> int:
        return self._digester.size

    def read(self, size: int = -1, /) -> bytes:
        check_cancel(self._cancel, f"reading {self.what}")
        data = self._raw.read(size)
        self._account(data, size)
        return data

    def readinto(self, buffer: memoryview | bytearray, /) -> int:
        check_cancel(self._cancel, f"reading {self.what}")
        n = readinto(self._raw, buffer)
        self._account(memoryview(buffer)[:n], len(buffer))
        return n

    def _account(self, data: bytes | memoryview, asked: int) -> None:
        if data:
            self._digester.update(data)
            if self.expected_size is not None and self.size > self.expected_size:
                raise SizeMismatch(self.expected_size, self.size, self.what)
            if self._progress is not None:
                self._progress(self.size)
        elif asked != 0 and not self.eof:
            self.eof = True
            self.verify()

    def drain(self, chunk: int = 1 << 20) -> int:
        """Read to EOF (verifying); returns how many bytes were left."""
        left = 0
        while data := self.read(chunk):
            left += len(data)
        return left

    def verify(self) -> str:
        """Check size and digest of everything read so far; returns the digest."""
        if self.expected_size is not None and self.size != self.expected_size:
            raise SizeMismatch(self.expected_size, self.size, self.what)
        actual = self.digest
        if self.expected is not None and actual != self.expected:
            raise DigestMismatch(self.expected, actual, self.what)
        return actual


class DigestingWriter:
    """Hashes and counts what is written, then passes it on to ``out`` (if any)."""

    def __init__(
        self,
        out: Writer | None = None,
        *,
        algorithm: str = "sha256",
        what: str = "content",
        cancel: Cancel = None,
        progress: Progress = None,
    ) -> None:
        self._out = out
        self._digester = Digester(algorithm)
        self.what = what
        self._cancel = cancel
        self._progress = progress

    @property
    def digest(self) -> str:
        return self._digester.digest

    @property
    def size(self) -> int:
        return self._digester.size

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        check_cancel(self._cancel, f"writing {self.what}")
        self._digester.update(data)
        if self._out is not None:
            _write_all(self._out, data)
        if self._progress is not None:
            self._progress(self.size)
        return len(data)

    def flush(self) -> None:
        flush = getattr(self._out, "flush", None)
        if flush is not None:
            flush()


def _write_all(out: Writer, data: bytes | bytearray | memoryview) -> None:
    # Buffered writers return None or len(data); a raw file may write less.
    n = out.write(data)
    if n is None or n >= len(data):
        return
    view = memoryview(data)[n:]
    while view:
        n = out.write(view)
        view = view[len(view) if n is None else n:]

"""Reading a tar stream with the stdlib's ``tarfile``, made strict for hostile input.

``tarfile`` in stream mode (``r|``) parses ustar, GNU (long names, sparse) and PAX
headers for us, but two of its habits are wrong for layers from the network:

- a corrupt or truncated header in the middle of a stream silently ends the archive,
  which would apply half a layer as if it were whole; here it is an error, as in Go's
  ``archive/tar`` (a clean EOF between entries still ends the stream, as there);
- PAX and GNU long-name records are read into memory whole, whatever size the header
  claims; here they are capped at 1 MiB, Go's limit for the same records.

It also keeps every member it has seen in ``TarFile.members``; ``entries()`` empties
that list as it goes, so memory stays flat on layers with millions of files. And its
stream mode re-slices a whole read buffer for every 512-byte header it takes out, which
made small-file layers parse at a few MB/s; ``Sequential`` gives tarfile's seekable
mode the forward-only "seeks" it needs instead.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import BinaryIO, cast

from .errors import ArchiveError
from .hooks import CHUNK, Reader

MAX_META_SIZE = 1 << 20
_META_TYPES = frozenset({tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                         tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK})


class StrictTarInfo(tarfile.TarInfo):
    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> StrictTarInfo:
        try:
            info = super().frombuf(buf, encoding, errors)
        except (tarfile.EOFHeaderError, tarfile.EmptyHeaderError):
            raise  # the end-of-archive zero block, or a clean EOF
        except tarfile.TruncatedHeaderError:
            raise ArchiveError("tar stream truncated inside a header") from None
        except tarfile.HeaderError as e:
            raise ArchiveError(f"invalid tar header: {e}") from None
        if info.type in _META_TYPES and info.size > MAX_META_SIZE:
            raise ArchiveError(
                f"tar header record of {info.size} bytes (more than {MAX_META_SIZE})")
        return cast(StrictTarInfo, info)


class Sequential:
    """A stream that tarfile may ``tell`` and ``seek``, as long as it never seeks back."""

    def __init__(self, raw: Reader) -> None:
        self._raw = raw
        self._buf = b""
        self._at = 0  # position in _buf
        self._pos = 0  # position in the stream

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            rest = self._buf[self._at:] + self._raw.read()
            self._buf, self._at = b"", 0
            self._pos += len(rest)
            return rest
        if self._at == len(self._buf) and size >= CHUNK:
            data = self._raw.read(size)  # large reads go straight through
        else:
            if len(self._buf) - self._at < size:
                parts = [self._buf[self._at:]]
                have = len(parts[0])
                while have < size:
                    more = self._raw.read(max(CHUNK, size - have))
                    if not more:
                        break
                    parts.append(more)
                    have += len(more)
                self._buf, self._at = b"".join(parts), 0
            data = self._buf[self._at:self._at + size]
            self._at += len(data)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        if whence == 2 or pos < self._pos:
            raise ArchiveError("tar stream: cannot seek backwards")
        while pos > self._pos:
            if not self.read(min(pos - self._pos, CHUNK)):
                raise ArchiveError("tar stream: unexpected end of data")
        return self._pos


def open_stream(reader: Reader) -> tarfile.TarFile | None:
    """A TarFile reading ``reader`` sequentially; None for an empty (0-byte) stream."""
    try:
        return tarfile.open(
            fileobj=cast(BinaryIO, Sequential(reader)), mode="r:", tarinfo=StrictTarInfo,
            encoding="utf-8", errors="surrogateescape",
        )
    except tarfile.ReadError as e:
        if str(e) == "empty file":
            return None
        raise ArchiveError(f"not a tar stream: {e}") from None


def entries(tar: tarfile.TarFile | None) -> Iterator[tarfile.TarInfo]:
    """The members in stream order; each one's data must be read before the next."""
    if tar is None:
        return
    while True:
        try:
            member = tar.next()
        except tarfile.TarError as e:
            raise ArchiveError(f"tar stream: {e}") from None
        if member is None:
            return
        del tar.members[:]
        yield member

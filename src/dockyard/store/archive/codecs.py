"""Layer compression: detection by magic bytes or media type, streaming codecs.

gzip goes through ISA-L (``isal``), several times faster than zlib both ways, and is
written at level 1: pushes are compression-bound and level 1 costs only a few percent
in size (moby/moby#48106). zstd goes through ``zstandard``. Both release the GIL.

Readers and writers here never close the stream they wrap: the caller owns it.
"""

from __future__ import annotations

import enum
from typing import BinaryIO, cast

import zstandard
from isal import igzip, isal_zlib

from .errors import ArchiveError, UnknownMediaType
from .hooks import Reader, Writer, readinto
from .zstdframes import ZstdFrames


class Codec(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_LEVEL = 1
ZSTD_LEVEL = 3

_OCI = "application/vnd.oci.image.layer.v1.tar"
_OCI_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
_DOCKER = "application/vnd.docker.image.rootfs.diff.tar"
_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"

# Duplicated from dockyard.image.mediatypes on purpose: store must not import image.
_MEDIA_TYPES: dict[str, Codec] = {
    _OCI: Codec.NONE,
    _OCI + "+gzip": Codec.GZIP,
    _OCI + "+zstd": Codec.ZSTD,
    _OCI_ND: Codec.NONE,
    _OCI_ND + "+gzip": Codec.GZIP,
    _OCI_ND + "+zstd": Codec.ZSTD,
    _DOCKER: Codec.NONE,
    _DOCKER + ".gzip": Codec.GZIP,
    _DOCKER + ".zstd": Codec.ZSTD,
    _DOCKER_FOREIGN: Codec.NONE,
    _DOCKER_FOREIGN + ".gzip": Codec.GZIP,
}


def codec_for_media_type(media_type: str) -> Codec:
    """The codec of an OCI or Docker layer media type; UnknownMediaType otherwise."""
    try:
        return _MEDIA_TYPES[media_type]
    except KeyError:
        raise UnknownMediaType(media_type) from None


def media_type_for(codec: Codec, *, docker: bool = False) -> str:
    """The layer media type to write in a manifest (Docker v2s2 has no zstd type)."""
    if docker and codec is not Codec.ZSTD:
        return _DOCKER + (".gzip" if codec is Codec.GZIP else "")
    return _OCI + {Codec.NONE: "", Codec.GZIP: "+gzip", Codec.ZSTD: "+zstd"}[codec]


def detect_codec(head: bytes) -> Codec:
    """The codec whose magic ``head`` (the first 4 bytes or more) starts with."""
    if head.startswith(GZIP_MAGIC):
        return Codec.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Codec.ZSTD
    return Codec.NONE


class PrefixedReader:
    """Gives back ``prefix`` (bytes already read for sniffing) before the rest of ``raw``."""

    def __init__(self, prefix: bytes, raw: Reader) -> None:
        self._prefix = prefix
        self._raw = raw

    def read(self, size: int = -1, /) -> bytes:
        if not self._prefix:
            return self._raw.read(size)
        if size < 0:
            data, self._prefix = self._prefix + self._raw.read(), b""
            return data
        data, self._prefix = self._prefix[:size], self._prefix[size:]
        return data

    def readinto(self, buffer: memoryview | bytearray, /) -> int:
        if not self._prefix:
            return readinto(self._raw, buffer)
        n = min(len(buffer), len(self._prefix))
        buffer[:n] = self._prefix[:n]
        self._prefix = self._prefix[n:]
        return n


def sniff(raw: Reader) -> tuple[Codec, Reader]:
    """Detect the codec from the stream's first bytes; returns it and an unread stream."""
    head = b""
    while len(head) < len(ZSTD_MAGIC):
        more = raw.read(len(ZSTD_MAGIC) - len(head))
        if not more:
            break
        head += more
    return detect_codec(head), PrefixedReader(head, raw)


class _Tracked:
    """The compressed side of a zstd stream, watched by a frame tracker as it is read."""

    def __init__(self, raw: Reader, frames: ZstdFrames) -> None:
        self._raw = raw
        self._frames = frames

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self._frames.update(data)
        return data


class _ZstdReader:
    """zstandard's stream reader, with truncation detected and errors as ArchiveError."""

    def __init__(self, raw: Reader) -> None:
        self._frames = ZstdFrames()
        self._source = _Tracked(raw, self._frames)
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            self._source, read_size=1 << 20, read_across_frames=True, closefd=False
        )
        self._eof = False

    def read(self, size: int = -1, /) -> bytes:
        if self._eof:
            return b""
        try:
            data = self._reader.read(size)
        except zstandard.ZstdError as e:
            raise ArchiveError(f"zstd: {e}") from None
        if not data and size != 0:
            self._eof = True
            while self._source.read(1 << 20):
                pass  # normally nothing: the decoder reads to the end itself
            if not self._frames.at_boundary:
                raise ArchiveError("zstd: unexpected end of data (truncated stream)")
        return data


class _GzipReader:
    def __init__(self, raw: Reader) -> None:
        self._reader = igzip.IGzipFile(fileobj=cast(BinaryIO, raw), mode="rb")

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._reader.read(size)
        except EOFError:
            raise ArchiveError("gzip: unexpected end of data (truncated, or trailing garbage)"
                               ) from None
        except (igzip.BadGzipFile, isal_zlib.error) as e:
            raise ArchiveError(f"gzip: {e}") from None


def decompressing_reader(raw: Reader, codec: Codec) -> Reader:
    """A reader of the decompressed bytes of ``raw`` (which is read in 1 MiB chunks)."""
    if codec is Codec.GZIP:
        return _GzipReader(raw)
    if codec is Codec.ZSTD:
        return _ZstdReader(raw)
    return raw


class CompressingWriter:
    """Compresses what is written into ``out``; ``close()`` ends the stream, not ``out``."""

    def __init__(self, out: Writer, codec: Codec, level: int | None = None) -> None:
        self.codec = codec
        self._stream: Writer
        if codec is Codec.GZIP:
            # mtime=0 and no file name: the same tar must give the same blob digest.
            self._stream = igzip.IGzipFile(
                filename="", mode="wb", fileobj=cast(BinaryIO, out), mtime=0,
                compresslevel=GZIP_LEVEL if level is None else level,
            )
        elif codec is Codec.ZSTD:
            # With a content checksum, as Go's zstd writes by default: corruption inside
            # stored blocks is otherwise invisible to the decoder.
            self._stream = zstandard.ZstdCompressor(
                level=ZSTD_LEVEL if level is None else level, write_checksum=True
            ).stream_writer(cast(BinaryIO, out), closefd=False)
        else:
            self._stream = out
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        if self.closed:
            raise ValueError("write to a closed CompressingWriter")
        self._stream.write(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.codec is not Codec.NONE:
                cast(BinaryIO, self._stream).close()  # flushes the trailer into ``out``

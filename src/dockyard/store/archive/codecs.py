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
from isal import igzip

from .errors import ArchiveError, UnknownMediaType
from .hooks import Reader, Writer


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


def sniff(raw: Reader) -> tuple[Codec, Reader]:
    """Detect the codec from the stream's first bytes; returns it and an unread stream."""
    head = b""
    while len(head) < len(ZSTD_MAGIC):
        more = raw.read(len(ZSTD_MAGIC) - len(head))
        if not more:
            break
        head += more
    return detect_codec(head), PrefixedReader(head, raw)


class _ZstdReader:
    """zstandard's stream reader, with its errors turned into ArchiveError."""

    def __init__(self, raw: Reader) -> None:
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            raw, read_size=1 << 20, read_across_frames=True, closefd=False
        )

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._reader.read(size)
        except zstandard.ZstdError as e:
            raise ArchiveError(f"zstd: {e}") from None


class _GzipReader:
    def __init__(self, raw: Reader) -> None:
        self._reader = igzip.IGzipFile(fileobj=cast(BinaryIO, raw), mode="rb")

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._reader.read(size)
        except EOFError:
            raise ArchiveError("gzip: stream truncated before its end marker") from None
        except (OSError, igzip.BadGzipFile) as e:
            if type(e) is not OSError and not isinstance(e, igzip.BadGzipFile):
                raise
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
        self._out = out
        self._stream: Writer | None
        if codec is Codec.GZIP:
            # mtime=0 and no file name: the same tar must give the same blob digest.
            self._stream = igzip.IGzipFile(
                filename="", mode="wb", fileobj=cast(BinaryIO, out), mtime=0,
                compresslevel=GZIP_LEVEL if level is None else level,
            )
        elif codec is Codec.ZSTD:
            self._stream = zstandard.ZstdCompressor(
                level=ZSTD_LEVEL if level is None else level
            ).stream_writer(cast(BinaryIO, out), closefd=False)
        else:
            self._stream = out
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        assert self._stream is not None and not self.closed
        self._stream.write(data)
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.codec is not Codec.NONE:
            self._stream.close()  # type: ignore[union-attr]

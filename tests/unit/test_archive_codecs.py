"""Codecs: detection by magic and media type, streaming round trips, broken streams."""

from __future__ import annotations

import gzip
import io
import random

import pytest
import zstandard

from dockyard.store.archive import (
    ArchiveError,
    Codec,
    CompressingWriter,
    UnknownMediaType,
    codec_for_media_type,
    decompressing_reader,
    detect_codec,
    media_type_for,
    sniff,
)
from dockyard.store.archive.zstdframes import ZstdFrames

pytestmark = pytest.mark.unit

DATA = random.Random(7).randbytes(300_000) + bytes(700_000) + b"tail" * 1000


def compress(data: bytes, codec: Codec, level: int | None = None) -> bytes:
    out = io.BytesIO()
    w = CompressingWriter(out, codec, level)
    for i in range(0, len(data), 65536):
        w.write(data[i:i + 65536])
    w.close()
    return out.getvalue()


def read_all(reader, size: int = 1 << 16) -> bytes:
    parts = []
    while chunk := reader.read(size):
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize(("head", "codec"), [
    (b"\x1f\x8b\x08\x00", Codec.GZIP),
    (b"\x28\xb5\x2f\xfd", Codec.ZSTD),
    (b"etc/", Codec.NONE),
    (b"", Codec.NONE),
    (b"\x1f", Codec.NONE),
])
def test_detect_by_magic(head: bytes, codec: Codec) -> None:
    assert detect_codec(head) is codec


@pytest.mark.parametrize(("media_type", "codec"), [
    ("application/vnd.oci.image.layer.v1.tar", Codec.NONE),
    ("application/vnd.oci.image.layer.v1.tar+gzip", Codec.GZIP),
    ("application/vnd.oci.image.layer.v1.tar+zstd", Codec.ZSTD),
    ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Codec.GZIP),
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", Codec.GZIP),
    ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Codec.GZIP),
    ("application/vnd.docker.image.rootfs.diff.tar", Codec.NONE),
    ("application/vnd.docker.image.rootfs.diff.tar.zstd", Codec.ZSTD),
])
def test_codec_for_media_type(media_type: str, codec: Codec) -> None:
    assert codec_for_media_type(media_type) is codec


@pytest.mark.parametrize("media_type", [
    "application/vnd.oci.image.layer.v1.tar+bzip2",
    "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
    "application/vnd.oci.image.manifest.v1+json",
    "",
])
def test_unknown_media_type_is_named(media_type: str) -> None:
    with pytest.raises(UnknownMediaType) as e:
        codec_for_media_type(media_type)
    assert repr(media_type) in str(e.value)


def test_media_type_for() -> None:
    assert media_type_for(Codec.GZIP) == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert media_type_for(Codec.ZSTD) == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert media_type_for(Codec.NONE) == "application/vnd.oci.image.layer.v1.tar"
    assert media_type_for(Codec.GZIP, docker=True) == \
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    for codec in Codec:
        assert codec_for_media_type(media_type_for(codec)) is codec
        assert codec_for_media_type(media_type_for(codec, docker=True)) is codec


@pytest.mark.parametrize("codec", list(Codec))
@pytest.mark.parametrize("chunk", [1, 4096, 1 << 20])
def test_round_trip(codec: Codec, chunk: int) -> None:
    blob = compress(DATA, codec)
    found, stream = sniff(io.BytesIO(blob))
    assert found is codec
    data = read_all(decompressing_reader(stream, codec), chunk if chunk > 1 else 4097)
    assert data == DATA


def test_sniff_short_stream_keeps_its_bytes() -> None:
    codec, stream = sniff(io.BytesIO(b"ab"))
    assert codec is Codec.NONE
    assert stream.read(-1) == b"ab"


def test_gzip_is_isal_level_1_and_deterministic() -> None:
    a, b = compress(DATA, Codec.GZIP), compress(DATA, Codec.GZIP)
    assert a == b  # mtime 0, no file name
    assert a[4:8] == b"\0\0\0\0"
    assert gzip.decompress(a) == DATA  # plain zlib reads it
    assert gzip.decompress(compress(DATA, Codec.GZIP, level=3)) == DATA


def test_zstd_output_is_standard() -> None:
    blob = compress(DATA, Codec.ZSTD)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == DATA


def test_multi_member_gzip_and_multi_frame_zstd() -> None:
    gz = gzip.compress(b"one") + gzip.compress(b"two")
    assert read_all(decompressing_reader(io.BytesIO(gz), Codec.GZIP)) == b"onetwo"
    zs = zstandard.ZstdCompressor().compress(b"one") + zstandard.ZstdCompressor().compress(b"two")
    assert read_all(decompressing_reader(io.BytesIO(zs), Codec.ZSTD)) == b"onetwo"


def test_gzip_zero_padding_is_accepted() -> None:
    blob = gzip.compress(b"data") + bytes(100)
    assert read_all(decompressing_reader(io.BytesIO(blob), Codec.GZIP)) == b"data"


@pytest.mark.parametrize("codec", [Codec.GZIP, Codec.ZSTD])
@pytest.mark.parametrize("cut", [0.5, -1, 10])
def test_truncated_stream_is_an_error(codec: Codec, cut: float) -> None:
    blob = compress(DATA, codec)
    n = int(len(blob) * cut) if isinstance(cut, float) else (cut if cut > 0 else len(blob) + cut)
    with pytest.raises(ArchiveError, match="unexpected end of data"):
        read_all(decompressing_reader(io.BytesIO(blob[:n]), codec))


@pytest.mark.parametrize("codec", [Codec.GZIP, Codec.ZSTD])
def test_corrupt_stream_is_an_error(codec: Codec) -> None:
    blob = bytearray(compress(DATA, codec))
    for i in range(40, len(blob), 997):
        blob[i] ^= 0x5A
    with pytest.raises(ArchiveError, match=codec.value):
        read_all(decompressing_reader(io.BytesIO(bytes(blob)), codec))


@pytest.mark.parametrize("codec", [Codec.GZIP, Codec.ZSTD])
def test_trailing_garbage_is_an_error(codec: Codec) -> None:
    blob = compress(b"data", codec) + b"garbage!"
    with pytest.raises(ArchiveError):
        read_all(decompressing_reader(io.BytesIO(blob), codec))


def test_zstd_frame_tracker_on_skippable_frames_and_checksums() -> None:
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(DATA)
    blob = skippable + frame + skippable
    assert read_all(decompressing_reader(io.BytesIO(blob), Codec.ZSTD)) == DATA
    for cut in range(0, len(blob), 1 + len(blob) // 50):
        tracker = ZstdFrames()
        tracker.update(blob[:cut])
        assert tracker.at_boundary == (cut in (0, len(skippable), len(skippable) + len(frame)))


def test_decompression_bomb_is_read_in_bounded_chunks() -> None:
    # 1 GiB of zeros in about 32 KiB: reads must come back a chunk at a time.
    w = zstandard.ZstdCompressor(level=1)
    blob = b"".join(w.compress(bytes(1 << 27)) for _ in range(8))
    reader = decompressing_reader(io.BytesIO(blob), Codec.ZSTD)
    total = 0
    while chunk := reader.read(1 << 20):
        assert len(chunk) <= 1 << 20
        total += len(chunk)
    assert total == 1 << 30

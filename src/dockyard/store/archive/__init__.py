"""Layer archives: safe extraction, creation, codecs and digests, all streaming.

The daemon calls these from a thread pool: they block, hold at most about 1 MiB of a
layer in memory, and take a cancellation hook (a ``threading.Event`` or a callable
returning True, checked between chunks) and a progress callback (bytes done).

    extract_layer(stream, target_dir, ...) -> LayerStats     pull, load, import
    write_diff(upper_dir, out, lower_dirs=...) -> int         commit, build, push
    write_tree(dir, out) -> int                               export, bootstrap
    compress_and_digest(produce, out, codec) -> BlobResult    diff ID + digest in one pass
"""

from .codecs import (
    Codec,
    CompressingWriter,
    codec_for_media_type,
    decompressing_reader,
    detect_codec,
    media_type_for,
    sniff,
)
from .create import BlobResult, compress_and_digest, write_diff, write_tree
from .digest import Digester, DigestingReader, DigestingWriter, parse_digest
from .errors import (
    ArchiveError,
    Cancelled,
    DigestMismatch,
    InvalidDigest,
    LayerEntryError,
    SizeMismatch,
    UnknownMediaType,
)
from .extract import LayerStats, WhiteoutFormat, extract_layer

__all__ = [
    "ArchiveError",
    "BlobResult",
    "Cancelled",
    "Codec",
    "CompressingWriter",
    "DigestMismatch",
    "Digester",
    "DigestingReader",
    "DigestingWriter",
    "InvalidDigest",
    "LayerEntryError",
    "LayerStats",
    "SizeMismatch",
    "UnknownMediaType",
    "WhiteoutFormat",
    "codec_for_media_type",
    "compress_and_digest",
    "decompressing_reader",
    "detect_codec",
    "extract_layer",
    "media_type_for",
    "parse_digest",
    "sniff",
    "write_diff",
    "write_tree",
]

"""Throughput of archiving and extracting a 100 MiB layer, printed, not asserted.

The layer is "random-ish": files of mixed sizes, about a third random bytes and the rest
text-like, so it compresses to roughly 60% with gzip. gzip goes through ISA-L (what
dockyard uses) and, for comparison, through zlib at levels 1 and 6 (Docker's default).
Run with ``-s`` or look at the table printed at the end of the test.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.store.archive import (
    Codec,
    DigestingWriter,
    compress_and_digest,
    extract_layer,
    write_tree,
)

pytestmark = pytest.mark.slow
SIZE = 100 << 20


def _make_tree(root: Path) -> None:
    rnd = random.Random(20261128)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz_/.") for _ in range(rnd.randint(2, 12)))
             for _ in range(4000)]
    text = b" ".join(rnd.choice(words) for _ in range(300_000))
    total = i = 0
    while total < SIZE:
        size = min(rnd.choice([300, 4_000, 40_000, 400_000, 4 << 20]), SIZE - total)
        if rnd.random() < 0.33:
            data = rnd.randbytes(size)
        else:
            start = rnd.randrange(len(text))
            data = (text[start:] + text)[:size]
            data = (data * (size // max(len(data), 1) + 1))[:size]
        d = root / f"dir{i % 40}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file{i}").write_bytes(data)
        total += size
        i += 1


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def test_throughput(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    _make_tree(src)
    rows: list[tuple[str, str, float, int]] = []
    blobs: dict[str, Path] = {}

    def create(name: str, codec: Codec) -> None:
        path = tmp_path / f"layer.{name}"
        with open(path, "wb") as out:
            dt, _ = _timed(lambda: compress_and_digest(lambda w: write_tree(src, w), out, codec))
        blobs[name] = path
        rows.append(("create", name, dt, path.stat().st_size))

    def create_zlib(level: int) -> None:
        path = tmp_path / f"layer.zlib{level}"

        def run() -> None:
            with open(path, "wb") as out:
                blob = DigestingWriter(out)
                with gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=level, mtime=0) as gz:
                    write_tree(src, DigestingWriter(gz))

        dt, _ = _timed(run)
        blobs[f"zlib{level}"] = path
        rows.append(("create", f"gzip zlib-{level}", dt, path.stat().st_size))

    create("none", Codec.NONE)
    create("gzip", Codec.GZIP)
    create("zstd", Codec.ZSTD)
    create_zlib(1)
    create_zlib(6)

    def extract(name: str, label: str, opener: Callable[[io.BufferedReader], object]) -> None:
        dest = tmp_path / f"out.{name}"
        dest.mkdir()
        with open(blobs[name], "rb") as raw:
            dt, _ = _timed(lambda: extract_layer(opener(raw), dest))  # type: ignore[arg-type]
        rows.append(("extract", label, dt, blobs[name].stat().st_size))
        shutil.rmtree(dest)

    extract("none", "none", lambda raw: raw)
    extract("gzip", "gzip isal (level 1 blob)", lambda raw: raw)
    extract("zlib6", "gzip isal (level 6 blob)", lambda raw: raw)
    extract("zlib6", "gzip zlib (level 6 blob)",
            lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"))
    extract("zstd", "zstd", lambda raw: raw)

    with capsys.disabled():
        print(f"\n\narchive throughput, {SIZE >> 20} MiB layer, {os.cpu_count()} CPUs "
              "(MiB/s of uncompressed tar)")
        for op, name, dt, size in rows:
            rate = SIZE / dt / 2**20
            print(f"  {op:8} {name:28} {rate:7.0f} MiB/s   blob {size / 2**20:6.1f} MiB")

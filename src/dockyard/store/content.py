"""Content-addressable blob store: ``<root>/content/blobs/<alg>/<hex>``.

Theory of operation. A blob is only ever visible under its final name once its bytes have
been hashed, checked against the digest that names it, and made durable; it is written
first into an *ingest* directory keyed by a caller-chosen ref (for a pull: the layer digest):

    <root>/content/ingest/<sha256(ref)>/ref         the ref itself, for listings
                                       /meta.json   expected digest, total size, start time
                                       /data        the bytes so far (its size is the offset)

The ingest directory is held with flock(2) by the one Writer using it, so a second writer of
the same ref gets InUse, and an interrupted writer (even one killed by SIGKILL) leaves data
that the next ``writer(ref)`` resumes from its offset after re-hashing it. Commit is:
fsync data -> (lease the digest) -> rename into blobs/ -> fsync the directory. A crash before
the rename leaves only an ingest (resumable, collected by GC when stale); after it, a whole,
verified blob. Two writers of the same digest under different refs both verify their bytes;
the second to commit finds the blob present and discards its copy.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from .errors import DigestMismatch, InUse, InvalidDigest, NotFound, SizeMismatch, StoreError
from .fsutil import fsync_dir

if TYPE_CHECKING:
    from .metadata import Lease, MetadataStore

ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_CHUNK = 1 << 20

# Crash tests replace this to stop (or kill) the process at a named point of commit().
checkpoint: Callable[[str], None] = lambda point: None  # noqa: E731


def parse_digest(digest: str) -> tuple[str, str]:
    """``sha256:<hex>`` -> ("sha256", "<hex>"); InvalidDigest for anything else."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidDigest(str(digest))
    alg, _, hexpart = digest.partition(":")
    return alg, hexpart


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class BlobInfo(NamedTuple):
    size: int
    mtime: float


@dataclass(frozen=True)
class IngestStatus:
    ref: str
    offset: int  # bytes received so far: where a resumed download continues
    total: int | None
    expected: str | None
    started: float
    updated: float


def _write_json_atomic(path: Path, value: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


class Writer:
    """One ingest in progress. Not thread-safe: one writer, one thread at a time."""

    def __init__(
        self,
        store: ContentStore,
        ref: str,
        directory: Path,
        dir_fd: int,
        expected: str | None,
        total: int | None,
        lease: Lease | None,
    ) -> None:
        self.store = store
        self.ref = ref
        self.expected = expected
        self.total = total
        self._dir = directory
        self._dir_fd = dir_fd  # holds the flock for as long as the writer is open
        self._lease = lease
        self.algorithm = parse_digest(expected)[0] if expected else "sha256"
        with contextlib.suppress(FileNotFoundError):
            # commit() makes the data read-only before publishing it; a crash between that
            # and the rename leaves a read-only file that resuming must be able to reopen.
            os.chmod(directory / "data", 0o644)
        self._fd = os.open(directory / "data", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._hash = hashlib.new(self.algorithm)
        self.offset = 0
        self._rehash()

    def _rehash(self) -> None:
        # hashlib state cannot be saved, so resuming re-reads what earlier attempts wrote.
        size = os.fstat(self._fd).st_size
        while self.offset < size:
            chunk = os.pread(self._fd, min(_CHUNK, size - self.offset), self.offset)
            if not chunk:
                break
            self._hash.update(chunk)
            self.offset += len(chunk)
        os.lseek(self._fd, self.offset, os.SEEK_SET)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def digest_so_far(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(f"writer for {self.ref} is closed")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._check_open()
        view = memoryview(data).cast("B")
        if self.total is not None and self.offset + len(view) > self.total:
            raise SizeMismatch(self.total, self.offset + len(view), f"ingest {self.ref}")
        written = 0
        while written < len(view):
            written += os.write(self._fd, view[written:])
        self._hash.update(view)
        self.offset += written
        return written

    def reset(self) -> None:
        """Drop what was written and start over at offset 0 (a source that cannot resume)."""
        self._check_open()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hash = hashlib.new(self.algorithm)
        self.offset = 0

    def commit(self, size: int | None = None, expected: str | None = None) -> str:
        """Verify, make durable and publish the blob; return its digest.

        A short write raises SizeMismatch and keeps the ingest (more data may follow);
        wrong bytes raise SizeMismatch/DigestMismatch and discard it.
        """
        self._check_open()
        size = self.total if size is None else size
        expected = expected or self.expected
        if size is not None and self.offset != size:
            if self.offset > size:
                self.abort()
            raise SizeMismatch(size, self.offset, f"ingest {self.ref}")
        actual = self.digest_so_far
        if expected is not None and actual != expected:
            self.abort()
            raise DigestMismatch(expected, actual, f"ingest {self.ref}")
        # Durable before visible: the rename must never publish bytes still in page cache.
        os.fchmod(self._fd, 0o444)
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        checkpoint("commit:synced")
        if self._lease is not None:
            # Leased before it appears, so a GC that lists blobs after the rename sees it held.
            self._lease.add_content(actual)
        target = self.store.path(actual)
        if not target.exists():
            alg_dir = self.store._alg_dir(self.algorithm)
            # Two writers of one digest may both get here: the later rename replaces a
            # verified file with an identical verified file, atomically; readers never
            # see a missing or partial blob.
            os.rename(self._dir / "data", target)
            checkpoint("commit:renamed")
            fsync_dir(alg_dir)
        # else: another writer committed the same digest first; our verified copy is dropped.
        self._remove_ingest()
        return actual

    def abort(self) -> None:
        """Discard the ingest and its data."""
        if self._dir_fd < 0:
            return
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._remove_ingest()

    def close(self) -> None:
        """Stop writing but keep the data, so that a later writer(ref) resumes it."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def _remove_ingest(self) -> None:
        # Still holding the flock: nobody else can be using this directory.
        shutil.rmtree(self._dir, ignore_errors=True)
        self.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _VerifyingReader(io.RawIOBase):
    """Reads a blob and raises DigestMismatch at end of file if its bytes are wrong."""

    def __init__(self, path: Path, digest: str) -> None:
        super().__init__()
        self._file = io.FileIO(path, "r")
        self._digest = digest
        self._hash = hashlib.new(parse_digest(digest)[0])
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._file.readinto(buffer)
        if n:
            self._hash.update(memoryview(buffer)[:n])
        elif n == 0 and not self._done:
            self._done = True
            actual = f"{self._hash.name}:{self._hash.hexdigest()}"
            if actual != self._digest:
                raise DigestMismatch(self._digest, actual, f"blob {self._digest}")
        return n or 0

    def close(self) -> None:
        self._file.close()
        super().close()


class ContentStore:
    """Blobs under ``<root>/content``; leases go through ``metadata`` when one is given."""

    def __init__(self, root: str | os.PathLike[str], metadata: MetadataStore | None = None):
        self.root = Path(root)
        self.metadata = metadata
        self.blobs_dir = self.root / "content" / "blobs"
        self.ingest_dir = self.root / "content" / "ingest"
        self.ingest_dir.mkdir(parents=True, exist_ok=True)
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self._alg_dirs: set[str] = set()

    def _alg_dir(self, algorithm: str) -> Path:
        path = self.blobs_dir / algorithm
        if algorithm not in self._alg_dirs:
            if not path.is_dir():
                path.mkdir(exist_ok=True)
                # The new directory entry must be durable before blobs are renamed into it.
                fsync_dir(self.blobs_dir)
            self._alg_dirs.add(algorithm)
        return path

    # --- reading -----------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        alg, hexpart = parse_digest(digest)
        return self.blobs_dir / alg / hexpart

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def info(self, digest: str) -> BlobInfo:
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            raise NotFound("blob", digest) from None
        return BlobInfo(st.st_size, st.st_mtime)

    def open(self, digest: str, verify: bool = False) -> BinaryIO:
        """Open a blob for reading; with ``verify`` the last read raises on corruption."""
        path = self.path(digest)
        try:
            if verify:
                return io.BufferedReader(_VerifyingReader(path, digest), _CHUNK)  # type: ignore[return-value]
            return open(path, "rb")  # the caller closes it
        except FileNotFoundError:
            raise NotFound("blob", digest) from None

    def read(self, digest: str, verify: bool = True) -> bytes:
        with self.open(digest, verify=verify) as f:
            return f.read()

    def verify(self, digest: str) -> None:
        """Re-hash a blob; DigestMismatch if its bytes no longer match its name."""
        with self.open(digest, verify=True) as f:
            while f.read(_CHUNK):
                pass

    def walk(self) -> Iterator[tuple[str, BlobInfo]]:
        """Every blob as (digest, info). Anything that is not a well-formed name is skipped."""
        for alg, length in ALGORITHMS.items():
            try:
                entries = list(os.scandir(self.blobs_dir / alg))
            except FileNotFoundError:
                continue
            for entry in entries:
                digest = f"{alg}:{entry.name}"
                if len(entry.name) != length or not _DIGEST.match(digest):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield digest, BlobInfo(st.st_size, st.st_mtime)

    def delete(self, digest: str) -> int:
        """Remove a blob; return its size."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            raise NotFound("blob", digest) from None
        return size

    # --- writing -----------------------------------------------------------------------------

    def _ingest_path(self, ref: str) -> Path:
        return self.ingest_dir / hashlib.sha256(ref.encode()).hexdigest()

    def writer(
        self,
        ref: str,
        expected: str | None = None,
        size: int | None = None,
        lease: Lease | None = None,
    ) -> Writer:
        """Open (or resume) the ingest ``ref``; InUse if another writer holds it.

        Resuming keeps the bytes already received unless they were for another digest.
        ``writer.offset`` says where the data source should continue from.
        """
        if expected is not None:
            parse_digest(expected)
        if lease is not None:
            lease.add_ingest(ref)
        path = self._ingest_path(ref)
        dir_fd = self._lock_ingest(path, ref)
        try:
            meta = self._read_meta(path)
            same = meta is not None and meta.get("ref") == ref
            if same and expected is not None and meta.get("expected") not in (None, expected):
                same = False  # bytes of some other blob: start over
            if same and size is not None and meta.get("total") not in (None, size):
                same = False
            if same:
                assert meta is not None
                expected = expected or meta.get("expected")
                size = size if size is not None else meta.get("total")
            else:
                with contextlib.suppress(FileNotFoundError):
                    (path / "data").unlink()
                (path / "ref").write_text(ref)
            # meta.json is rewritten atomically: a torn copy would lose the expected digest.
            started = meta.get("started", time.time()) if same and meta else time.time()
            _write_json_atomic(
                path / "meta.json",
                {"ref": ref, "expected": expected, "total": size, "started": started},
            )
            return Writer(self, ref, path, dir_fd, expected, size, lease)
        except BaseException:
            os.close(dir_fd)
            raise

    def _lock_ingest(self, path: Path, ref: str) -> int:
        while True:
            path.mkdir(exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InUse("ingest", ref, "another writer holds it") from None
            # The holder before us may have committed and removed the directory while we
            # waited between mkdir and flock: a lock on a deleted directory protects nothing.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    @staticmethod
    def _read_meta(path: Path) -> dict | None:
        try:
            value = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write_blob(
        self, data: bytes, expected: str | None = None, lease: Lease | None = None
    ) -> str:
        """Store small in-memory content (a manifest, a config) and return its digest."""
        algorithm = parse_digest(expected)[0] if expected else "sha256"
        actual = digest_bytes(data, algorithm)
        if expected is not None and actual != expected:
            raise DigestMismatch(expected, actual)
        if lease is not None:
            lease.add_content(actual)
        if self.exists(actual):
            return actual
        with self.writer(f"blob-{actual}", actual, len(data), lease) as w:
            w.reset()
            w.write(data)
            return w.commit()

    # --- ingests -----------------------------------------------------------------------------

    def ingest_status(self, ref: str) -> IngestStatus | None:
        return self._status(self._ingest_path(ref))

    def _status(self, path: Path) -> IngestStatus | None:
        meta = self._read_meta(path)
        if meta is None or "ref" not in meta:
            return None
        try:
            st = (path / "data").stat()
            offset, updated = st.st_size, st.st_mtime
        except FileNotFoundError:
            offset, updated = 0, float(meta.get("started", 0.0))
        return IngestStatus(
            ref=meta["ref"],
            offset=offset,
            total=meta.get("total"),
            expected=meta.get("expected"),
            started=float(meta.get("started", 0.0)),
            updated=updated,
        )

    def ingests(self) -> list[IngestStatus]:
        out = []
        for entry in sorted(os.scandir(self.ingest_dir), key=lambda e: e.name):
            status = self._status(Path(entry.path)) if entry.is_dir() else None
            if status is not None:
                out.append(status)
        return out

    def abort(self, ref: str) -> None:
        """Discard an ingest; InUse while a writer has it open."""
        path = self._ingest_path(ref)
        if not path.exists():
            raise NotFound("ingest", ref)
        fd = self._lock_ingest(path, ref)
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)

    def remove_stale_ingests(
        self, older_than: float, keep: set[str], now: float | None = None
    ) -> list[tuple[str, int]]:
        """Remove ingests idle for ``older_than`` seconds whose ref is not in ``keep``.

        Ingests held open by a writer are skipped. Returns (ref or dir name, bytes).
        """
        now = time.time() if now is None else now
        removed = []
        for entry in list(os.scandir(self.ingest_dir)):
            path = Path(entry.path)
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer
                status = self._status(path)
                ref = status.ref if status else entry.name
                updated = status.updated if status else entry.stat().st_mtime
                if ref in keep or now - updated < older_than:
                    continue
                size = status.offset if status else 0
                shutil.rmtree(path, ignore_errors=True)
                removed.append((ref, size))
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
            finally:
                os.close(fd)
        return removed

    # --- leases ------------------------------------------------------------------------------

    def lease(
        self, name: str | None = None, expires: float | None = 24 * 3600.0
    ) -> contextlib.AbstractContextManager[Lease]:
        """``with store.lease("pull-x", expires=3600) as lease:``; needs a MetadataStore."""
        if self.metadata is None:
            raise StoreError("leases need a metadata store: ContentStore(root, metadata)")
        return self.metadata.lease(name, expires)

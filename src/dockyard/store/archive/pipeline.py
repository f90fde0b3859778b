"""Two-stage pipelines: a worker thread reads ahead of, or writes behind, the caller.

Both directions of a layer have two CPU-heavy halves that release the GIL. Extracting:
fetching, hashing and decompressing the blob | hashing the tar and writing files.
Archiving: reading files and hashing the tar | compressing, hashing and writing the
blob. A worker thread takes the first half (``ReadAhead``) or the second
(``WriteBehind``), so one layer keeps two cores busy. An exception in the worker (a
digest mismatch, a cancel, a full disk) is raised in the caller at its next call;
``close()`` always joins the worker, so no thread outlives the call that made it.
"""

from __future__ import annotations

import queue
import threading

from .hooks import CHUNK, Reader, Writer

_Item = bytes | BaseException


class ReadAhead:
    def __init__(self, raw: Reader, *, chunk: int = CHUNK, depth: int = 4) -> None:
        self._raw = raw
        self._chunk = chunk
        self._queue: queue.Queue[_Item] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = b""
        self._pos = 0
        self._done = False
        self._thread = threading.Thread(target=self._run, name="archive-readahead",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._raw.read(self._chunk)
                self._put(data)
                if not data:
                    return
        except BaseException as e:  # handed to the caller, who raises it
            self._put(e)

    def _put(self, item: _Item) -> None:
        # Time out now and then to notice close() while the caller is not reading.
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            parts = []
            while data := self.read(self._chunk):
                parts.append(data)
            return b"".join(parts)
        if self._pos >= len(self._buf):
            if self._done or size == 0:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return b""
            self._buf, self._pos = item, 0
        if self._pos == 0 and size >= len(self._buf):
            data = self._buf
        else:
            data = self._buf[self._pos:self._pos + size]
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock a worker waiting to put
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteBehind:
    """Writes to ``out`` from a worker thread; ``close()`` waits until all is written."""

    def __init__(self, out: Writer, *, depth: int = 4) -> None:
        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="archive-writebehind",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # failed: keep draining so the caller never blocks on put
            try:
                view = memoryview(data)
                while view:
                    n = self._out.write(view)
                    view = view[len(view) if n is None else n:]
            except BaseException as e:
                self._error = e

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self._check()
        # The caller may reuse its buffer once we return: keep our own copy.
        self._queue.put(data if isinstance(data, bytes) else bytes(data))
        return len(data)

    def close(self) -> None:
        """Finish writing (raising the worker's error, if any) and join the worker."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._check()

    def abort(self) -> None:
        """Stop without raising: for error paths, where another exception is on its way."""
        if not self._closed:
            self._closed = True
            self._error = self._error or _Aborted()
            self._queue.put(None)
            self._thread.join()


class _Aborted(Exception):
    pass

"""Writing tar entries: PAX headers from stat results, file data copied from fds.

Headers follow Docker's choices (moby ``FileInfoHeaderNoLookups``): PAX format, numeric
owners with empty user and group names, mtime truncated to whole seconds and no
atime/ctime, so that the same tree gives the same bytes. The archive ends with two
zero blocks and no padding to tar's 10 KiB record size, as Go writes it.
"""

from __future__ import annotations

import os
import stat
import tarfile

from .errors import ArchiveError
from .hooks import CHUNK, Cancel, Progress, Writer, check_cancel

BLOCK = 512
XATTR_PAX_PREFIX = "SCHILY.xattr."


def tarinfo(arcname: str, st: os.stat_result, *, linkname: str = "",
            xattrs: dict[str, bytes] | None = None) -> tarfile.TarInfo:
    """A header for ``st``; regular files get ``st_size`` of data to follow."""
    info = tarfile.TarInfo(arcname)
    mode = st.st_mode
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = st.st_mtime_ns // 1_000_000_000
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, linkname
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        raise ArchiveError(f"{arcname!r}: cannot archive a socket or unknown file type")
    for key in sorted(xattrs or ()):
        assert xattrs is not None
        info.pax_headers[XATTR_PAX_PREFIX + key] = xattrs[key].decode("utf-8",
                                                                      "surrogateescape")
    return info


class TarWriter:
    """Streams entries into ``out``, batching small writes into about 1 MiB."""

    def __init__(self, out: Writer, *, cancel: Cancel = None, progress: Progress = None) -> None:
        self._out = out
        self._cancel = cancel
        self._progress = progress
        self._buf = bytearray()
        self.written = 0
        self.closed = False

    def add(self, info: tarfile.TarInfo, data_fd: int | None = None) -> None:
        """Write ``info``; for a regular file, ``info.size`` bytes read from ``data_fd``."""
        check_cancel(self._cancel, "writing a tar stream")
        self._emit(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if info.type != tarfile.REGTYPE or not info.size:
            return
        if data_fd is None:
            raise ArchiveError(f"{info.name!r}: no data for a regular file")
        left = info.size
        while left:
            chunk = os.read(data_fd, min(left, CHUNK))
            if not chunk:
                raise ArchiveError(f"{info.name!r}: file shrank by {left} bytes while it was "
                                   "being archived")
            left -= len(chunk)
            self._emit(chunk)
            check_cancel(self._cancel, "writing a tar stream")
        if info.size % BLOCK:
            self._emit(bytes(BLOCK - info.size % BLOCK))

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(2 * BLOCK))
            self._flush()
            self.closed = True

    def _emit(self, data: bytes) -> None:
        if len(data) >= CHUNK:
            self._flush()
            self._send(data)
            return
        self._buf += data
        if len(self._buf) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            self._send(data)

    def _send(self, data: bytes) -> None:
        n = self._out.write(data)
        if n is not None and n < len(data):  # a raw file's short write
            view = memoryview(data)[n:]
            while view:
                n = self._out.write(view)
                view = view[len(view) if n is None else n:]
        self.written += len(data)
        if self._progress is not None:
            self._progress(self.written)

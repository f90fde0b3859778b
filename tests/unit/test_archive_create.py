"""Writing layer tars: order, headers, links, whiteouts back to OCI, diffs, one-pass digests."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import socket
import stat
import tarfile
import threading
from pathlib import Path

import pytest
import zstandard

from dockyard.store.archive import (
    ArchiveError,
    Cancelled,
    Codec,
    compress_and_digest,
    extract_layer,
    write_diff,
    write_tree,
)
from dockyard.store.archive.tarwrite import TarWriter

pytestmark = pytest.mark.unit
MTIME = 1_650_000_000


def tree_bytes(root: Path, **kw) -> bytes:
    out = io.BytesIO()
    write_tree(root, out, **kw)
    return out.getvalue()


def diff_bytes(upper: Path, **kw) -> bytes:
    out = io.BytesIO()
    write_diff(upper, out, **kw)
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return tar.getmembers()


def names(data: bytes) -> list[str]:
    return [m.name for m in members(data)]


def settle(root: Path) -> None:
    """Fixed mtimes everywhere, so that two trees built apart can be compared."""
    for dirpath, dirs, files in os.walk(root, topdown=False):
        for name in dirs + files:
            os.utime(os.path.join(dirpath, name), ns=(MTIME * 10**9, MTIME * 10**9),
                     follow_symlinks=False)


def user_xattrs_work(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
        return True
    except OSError:
        return False


@pytest.fixture
def tree(scratch: Path) -> Path:
    root = scratch / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_bytes(b"f" * 1000)
    (root / "a-b").write_text("dash")
    (root / "a.txt").write_text("dot")
    (root / "bin").mkdir()
    (root / "bin" / "busybox").write_bytes(b"\x7fELF" + os.urandom(5000))
    (root / "bin" / "busybox").chmod(0o4755)
    os.link(root / "bin" / "busybox", root / "bin" / "sh")
    (root / "bin" / "ls").symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "abs").symlink_to("/etc/passwd")
    os.mkfifo(root / "fifo")
    (root / "empty").mkdir()
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    settle(root)
    return root


# --- write_tree ----------------------------------------------------------------------------


def test_order_is_sorted_preorder(tree: Path) -> None:
    assert names(tree_bytes(tree)) == [
        "a", "a/b", "a/b/f", "a-b", "a.txt", "bin", "bin/busybox", "bin/ls", "bin/sh",
        "empty", "etc", "etc/abs", "fifo", "tmp",
    ]


def test_output_is_deterministic(tree: Path) -> None:
    assert tree_bytes(tree) == tree_bytes(tree)


def test_headers_are_docker_like(tree: Path) -> None:
    data = tree_bytes(tree)
    assert data.endswith(bytes(1024)) and len(data) % 512 == 0
    assert data[257:265] == b"ustar\x0000"  # POSIX (PAX-capable) header
    by_name = {m.name: m for m in members(data)}
    for m in by_name.values():
        assert m.uname == "" and m.gname == ""
        assert (m.uid, m.gid) == (os.getuid(), os.getgid())
        assert m.mtime == MTIME
    assert by_name["a"].isdir() and by_name["a/b/f"].size == 1000
    assert by_name["bin/busybox"].mode == 0o4755
    assert by_name["tmp"].mode == 0o1777
    assert by_name["bin/ls"].issym() and by_name["bin/ls"].linkname == "busybox"
    assert by_name["etc/abs"].linkname == "/etc/passwd"
    assert by_name["fifo"].isfifo()
    assert by_name["bin/sh"].islnk() and by_name["bin/sh"].linkname == "bin/busybox"
    assert by_name["bin/sh"].size == 0


def test_sockets_are_skipped(tree: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(tree / "sock"))
        assert "sock" not in names(tree_bytes(tree))
    finally:
        s.close()


def test_owner_and_mtime_overrides(tree: Path) -> None:
    for m in members(tree_bytes(tree, owner=(0, 0), mtime=42)):
        assert (m.uid, m.gid, m.mtime) == (0, 0, 42)


def test_symlinks_are_never_followed(scratch: Path) -> None:
    # chrootarchive TestTarWithMaliciousSymlinks (CVE-2018-15664).
    host_data = b"I am a host file"
    (scratch / "host-file").write_bytes(host_data)
    root = scratch / "root"
    root.mkdir()
    (root / "safe").symlink_to(scratch)
    data = tree_bytes(root)
    assert host_data not in data
    [m] = members(data)
    assert m.issym() and m.linkname == str(scratch)


def test_round_trip_through_extract(tree: Path, scratch: Path) -> None:
    data = tree_bytes(tree)
    out = scratch / "out"
    out.mkdir()
    stats = extract_layer(io.BytesIO(data), out)
    assert stats.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert tree_bytes(out) == data
    assert (out / "bin/sh").stat().st_ino == (out / "bin/busybox").stat().st_ino


def test_binary_names_and_xattrs_round_trip(scratch: Path) -> None:
    src = scratch / "src"
    src.mkdir()
    odd = os.fsdecode(b"caf\xe9-\xff")  # not UTF-8
    (src / odd).write_bytes(b"x")
    (src / "unicode-\u00e9\u4e2d").write_bytes(b"y")
    if user_xattrs_work(src):
        os.setxattr(src / odd, "user.bin", b"\x00\xff")
    settle(src)
    data = tree_bytes(src)
    out = scratch / "out"
    out.mkdir()
    extract_layer(io.BytesIO(data), out)
    assert sorted(os.listdir(out)) == sorted(os.listdir(src))
    if user_xattrs_work(src):
        assert os.getxattr(out / odd, "user.bin") == b"\x00\xff"
    assert tree_bytes(out) == data


def test_a_file_that_shrinks_is_an_error(scratch: Path) -> None:
    f = scratch / "f"
    f.write_bytes(b"12345")
    info = tarfile.TarInfo("f")
    info.size = 10
    fd = os.open(f, os.O_RDONLY)
    try:
        with pytest.raises(ArchiveError, match="shrank"):
            TarWriter(io.BytesIO()).add(info, fd)
    finally:
        os.close(fd)


# --- write_diff of an overlay upper dir (user.overlay.* here; trusted.* needs root) ------


def test_diff_of_a_plain_upper_equals_the_tree(tree: Path) -> None:
    assert diff_bytes(tree) == tree_bytes(tree)


def test_user_overlay_whiteouts_become_oci(scratch: Path) -> None:
    upper = scratch / "upper"
    (upper / "etc" / "opaque").mkdir(parents=True)
    if not user_xattrs_work(upper):
        pytest.skip("no user xattrs on this filesystem")
    (upper / "etc" / "opaque" / "kept").write_text("k")
    os.setxattr(upper / "etc" / "opaque", "user.overlay.opaque", b"y")
    (upper / "etc" / "gone").write_bytes(b"")
    os.setxattr(upper / "etc" / "gone", "user.overlay.whiteout", b"")
    (upper / "etc" / "plain").write_bytes(b"")
    settle(upper)
    data = diff_bytes(upper)
    assert diff_bytes(upper) == data
    assert names(data) == ["etc", "etc/.wh.gone", "etc/opaque", "etc/opaque/.wh..wh..opq",
                           "etc/opaque/kept", "etc/plain"]
    by_name = {m.name: m for m in members(data)}
    assert by_name["etc/.wh.gone"].isreg() and by_name["etc/.wh.gone"].mode == 0o600
    for m in members(data):
        assert not any(k.startswith("SCHILY.xattr.user.overlay") for k in m.pax_headers)


def test_whiteout_device_becomes_oci(scratch: Path) -> None:
    upper = scratch / "upper"
    upper.mkdir()
    try:
        os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))
    except PermissionError:
        pytest.skip("cannot make a whiteout device here")
    os.link(upper / "gone", upper / "also-gone")  # overlayfs shares whiteout inodes
    assert names(diff_bytes(upper)) == [".wh.also-gone", ".wh.gone"]


def test_metacopy_upper_is_refused(scratch: Path) -> None:
    upper = scratch / "upper"
    upper.mkdir()
    if not user_xattrs_work(upper):
        pytest.skip("no user xattrs on this filesystem")
    (upper / "f").write_bytes(b"")
    os.setxattr(upper / "f", "user.overlay.metacopy", b"")
    with pytest.raises(ArchiveError, match="metacopy"):
        diff_bytes(upper)


# --- write_diff of a copy snapshot against its lower ---------------------------------------


@pytest.fixture
def lower(scratch: Path) -> Path:
    root = scratch / "lower"
    for d in ("etc", "var/cache/apt", "bin", "keep/deep"):
        (root / d).mkdir(parents=True)
    (root / "etc/hostname").write_text("old-host")
    (root / "etc/old").write_text("to delete")
    (root / "etc/same-size").write_text("aaaa")
    (root / "var/cache/apt/pkgcache.bin").write_bytes(b"c" * 100)
    (root / "bin/tool").write_bytes(b"tool")
    (root / "bin/tool").chmod(0o755)
    (root / "lib").write_text("a file, to become a directory")
    (root / "link").symlink_to("target-a")
    (root / "keep/deep/file").write_text("unchanged")
    settle(root)
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_diff_against_lower(lower: Path, scratch: Path) -> None:
    upper = _copy(lower, scratch / "upper")
    (upper / "etc/hostname").write_text("new-hostname")
    (upper / "etc/old").unlink()
    (upper / "etc/same-size").write_text("bbbb")
    os.utime(upper / "etc/same-size", ns=(0, (MTIME + 5) * 10**9))
    shutil.rmtree(upper / "var/cache")
    (upper / "bin/tool").chmod(0o700)
    (upper / "lib").unlink()
    (upper / "lib").mkdir()
    (upper / "lib/libc.so").write_text("c")
    (upper / "link").unlink()
    (upper / "link").symlink_to("target-b")
    (upper / "new").mkdir()
    (upper / "new/file").write_text("n")
    data = diff_bytes(upper, lower_dirs=[lower])
    assert names(data) == [
        "bin", "bin/tool",
        "etc", "etc/hostname", "etc/.wh.old", "etc/same-size",
        "lib", "lib/libc.so",
        "link",
        "new", "new/file",
        "var", "var/.wh.cache",
    ]
    # Applying the diff to a copy of the lower gives the upper back.
    applied = _copy(lower, scratch / "applied")
    extract_layer(io.BytesIO(data), applied, whiteout_format="apply")
    assert tree_bytes(applied) == tree_bytes(upper)


def test_diff_of_an_unchanged_copy_is_empty(lower: Path, scratch: Path) -> None:
    upper = _copy(lower, scratch / "upper")
    assert diff_bytes(upper, lower_dirs=[lower]) == bytes(1024)


def test_diff_against_several_lowers(scratch: Path) -> None:
    base, mid, upper = scratch / "base", scratch / "mid", scratch / "upper"
    for root in (base, mid, upper):
        (root / "d").mkdir(parents=True)
    (base / "d/from-base").write_text("b")
    (base / "shadowed").mkdir()
    (base / "shadowed/child").write_text("c")
    (mid / "shadowed").write_text("a file over the base's directory")
    (upper / "d/from-base").write_text("b")
    (upper / "shadowed").write_text("a file over the base's directory")
    for root in (base, mid, upper):
        settle(root)
    assert diff_bytes(upper, lower_dirs=[mid, base]) == bytes(1024)
    (upper / "shadowed").unlink()
    assert names(diff_bytes(upper, lower_dirs=[mid, base])) == [".wh.shadowed"]


# --- compress_and_digest -------------------------------------------------------------------


@pytest.mark.parametrize("codec", list(Codec))
def test_one_pass_gives_diff_id_and_digest(codec: Codec, tree: Path) -> None:
    tar = tree_bytes(tree)
    out = io.BytesIO()
    result = compress_and_digest(lambda w: write_tree(tree, w), out, codec)
    blob = out.getvalue()
    assert result.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert result.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert result.size == len(blob)
    plain = {Codec.NONE: lambda b: b, Codec.GZIP: gzip.decompress,
             Codec.ZSTD: lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)}
    assert plain[codec](blob) == tar
    diff_id, digest, size = result
    assert size == len(blob)
    if codec is Codec.NONE:
        assert diff_id == digest


def test_compressed_output_is_deterministic(tree: Path) -> None:
    outs = [io.BytesIO(), io.BytesIO()]
    results = [compress_and_digest(lambda w: write_tree(tree, w), o) for o in outs]
    assert results[0] == results[1] and outs[0].getvalue() == outs[1].getvalue()


def test_cancel_while_writing(scratch: Path) -> None:
    src = scratch / "big"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}").write_bytes(os.urandom(1 << 20))
    before = threading.active_count()
    cancel = threading.Event()

    def progress(n: int) -> None:
        if n > 3 << 20:
            cancel.set()

    with pytest.raises(Cancelled):
        compress_and_digest(lambda w: write_tree(src, w), io.BytesIO(), Codec.ZSTD,
                            cancel=cancel, progress=progress)
    assert threading.active_count() == before


def test_errors_propagate_and_join_the_worker(scratch: Path) -> None:
    before = threading.active_count()

    def produce(w) -> None:
        w.write(b"x" * 100_000)
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        compress_and_digest(produce, io.BytesIO(), Codec.GZIP)

    class Full:
        def write(self, b) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        compress_and_digest(lambda w: w.write(os.urandom(3 << 20)), Full(), Codec.GZIP)
    assert threading.active_count() == before

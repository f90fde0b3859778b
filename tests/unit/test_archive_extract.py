"""Layer extraction: hostile tars, links, replacing types, modes, owners, digests.

The hostile cases are moby's (pkg/archive archive_test.go TestUntarInvalidFilenames,
TestUntarHardlinkToSymlink, TestUntarInvalidHardlink, TestUntarInvalidSymlink, through
``testBreakout``; chrootarchive TestUntarWithMaliciousSymlinks), as one table. The
oracle is testBreakout's: the extraction may refuse the layer, but the victim directory
beside the target must be untouched, and no file under the target may hold the
victim's data. Symlinks are data for us (Docker refuses some relative ones that climb
out; we follow none of them while extracting), so a symlink pointing at the victim is
fine, and writing through it is not.

Every table runs twice: with openat2 and with the O_NOFOLLOW walk used where openat2
is missing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from dockyard.store.archive import (
    ArchiveError,
    Cancelled,
    Codec,
    CompressingWriter,
    DigestMismatch,
    LayerEntryError,
    SizeMismatch,
    UnknownMediaType,
    extract_layer,
)
from dockyard.store.archive import resolve as resolve_mod

pytestmark = pytest.mark.unit
ROOT = os.geteuid() == 0

# --- building tars ---------------------------------------------------------------------


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", *, mode: int = 0o644,
          linkname: str = "", uid: int | None = None, gid: int | None = None,
          mtime: int = 1_600_000_000, pax: dict[str, str] | None = None,
          devmajor: int = 0, devminor: int = 0) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.uid = os.getuid() if uid is None else uid
    info.gid = os.getgid() if gid is None else gid
    info.mtime = mtime
    info.devmajor, info.devminor = devmajor, devminor
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def reg(name: str, data: bytes = b"", **kw) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.REGTYPE, data, **kw)


def dir_(name: str, **kw) -> tuple[tarfile.TarInfo, bytes]:
    kw.setdefault("mode", 0o755)
    return entry(name, tarfile.DIRTYPE, **kw)


def sym(name: str, target: str, **kw) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777, **kw)


def link(name: str, target: str, **kw) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, tarfile.LNKTYPE, linkname=target, **kw)


def tar_bytes(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    bio = io.BytesIO()
    # addfile writes the names as given: no cleaning, no stripping of "/" or "..".
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return bio.getvalue()


def extract(target: Path, *entries: tuple[tarfile.TarInfo, bytes], **kw):
    return extract_layer(io.BytesIO(tar_bytes(*entries)), target, **kw)


@pytest.fixture(params=["openat2", "walk"])
def resolver(request, monkeypatch) -> str:
    if request.param == "openat2":
        if not resolve_mod.openat2_available():
            pytest.skip("no openat2 here")
        monkeypatch.setattr(resolve_mod, "OPENAT2", True)
    else:
        monkeypatch.setattr(resolve_mod, "OPENAT2", False)
    return request.param


@pytest.fixture
def dest(scratch: Path) -> Path:
    d = scratch / "dest"
    d.mkdir()
    return d


# --- the breakout table ----------------------------------------------------------------

HELLO = b"hello from the victim, 8d0c6e"

BREAKOUTS = {
    # TestUntarInvalidFilenames
    "dotdot-file": [reg("../victim/dotdot")],
    "slash-dotdot-file": [reg("/../victim/slash-dotdot")],
    # TestUntarHardlinkToSymlink is a success case; see test_hardlink_to_symlink
    # TestUntarInvalidHardlink
    "hardlink-dotdot": [link("dotdot", "../victim/hello")],
    "hardlink-slash-dotdot": [link("slash-dotdot", "/../victim/hello")],
    "hardlink-dir-then-write": [link("loophole-victim", "../victim", mode=0o755),
                                reg("loophole-victim/file")],
    "hardlink-dir-then-symlink": [link("loophole-victim", "../victim", mode=0o755),
                                  sym("symlink", "loophole-victim/hello")],
    "hardlink-dir-then-hardlink": [link("loophole-victim", "../victim", mode=0o755),
                                   link("hardlink", "loophole-victim/hello")],
    "hardlink-dir-then-replace": [link("loophole-victim", "../victim", mode=0o755),
                                  reg("loophole-victim")],
    # TestUntarInvalidSymlink
    "symlink-dotdot": [sym("dotdot", "../victim/hello")],
    "symlink-slash-dotdot": [sym("slash-dotdot", "/../victim/hello")],
    "symlink-dir-then-write": [sym("loophole-victim", "../victim"),
                               reg("loophole-victim/file")],
    "symlink-dir-then-symlink": [sym("loophole-victim", "../victim"),
                                 sym("symlink", "loophole-victim/hello")],
    "symlink-dir-then-hardlink": [sym("loophole-victim", "../victim"),
                                  link("hardlink", "loophole-victim/hello")],
    "symlink-dir-then-replace": [sym("loophole-victim", "../victim"),
                                 reg("loophole-victim")],
    "symlink-nested-then-write": [sym("dir/loophole", "../../victim"),
                                  reg("dir/loophole/newdir/newfile")],
    # ours: absolute symlinks, whiteouts and opaque markers through symlinks, "." games
    "absolute-symlink-then-write": [sym("etc", "/"), reg("etc/victim/hello", b"pwned")],
    "symlink-then-mkdir": [sym("loop", "../victim"), dir_("loop/sub")],
    "symlink-then-whiteout": [sym("loop", "../victim"), reg("loop/.wh.hello")],
    "symlink-then-opaque": [sym("loop", "../victim"), reg("loop/.wh..wh..opq")],
    "whiteout-dotdot": [reg("../.wh.victim")],
    "whiteout-of-dotdot": [reg("a/.wh...")],
    "dot-dir-climb": [dir_("a"), reg("a/./../../victim/x")],
    "symlink-chain": [sym("a", "b"), sym("b", "c/../.."), reg("a/victim/x")],
    "symlink-chain-escape": [dir_("c"), sym("a", "b"), sym("b", "c/../.."),
                             reg("a/victim/x")],
    "hardlink-via-symlink-parent": [sym("up", ".."), link("h", "up/victim/hello")],
    "symlink-self-loop": [sym("l", "l"), reg("l/x")],
}


def _check_no_breakout(scratch: Path, dest: Path) -> None:
    victim = scratch / "victim"
    assert sorted(os.listdir(victim)) == ["hello"]
    hello = victim / "hello"
    assert hello.read_bytes() == HELLO
    assert stat.S_IMODE(hello.lstat().st_mode) == 0o644
    for dirpath, _dirs, files in os.walk(dest):
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink() or not p.is_file():
                continue
            assert p.read_bytes() != HELLO, f"{p} holds the victim's data"


@pytest.mark.parametrize("fmt", ["overlay", "apply"])
@pytest.mark.parametrize("case", sorted(BREAKOUTS))
def test_no_breakout(case: str, fmt: str, resolver: str, scratch: Path, dest: Path) -> None:
    victim = scratch / "victim"
    victim.mkdir()
    (victim / "hello").write_bytes(HELLO)
    (victim / "hello").chmod(0o644)
    try:
        extract(dest, *BREAKOUTS[case], whiteout_format=fmt)
    except LayerEntryError as e:
        assert str(e).startswith("layer entry \"")
    _check_no_breakout(scratch, dest)


@pytest.mark.parametrize(("entries", "name", "reason"), [
    ([reg("../victim/dotdot")], "../victim/dotdot", "escapes the root"),
    ([reg("etc/../../x")], "etc/../../x", "escapes the root"),
    ([link("h", "../victim/hello")], "h", "escapes the root"),
    ([sym("l", "/etc"), reg("l/passwd")], "l/passwd", "escapes the root through a symlink"),
    ([sym("l", "../x"), reg("l/y")], "l/y", "escapes the root through a symlink"),
    ([reg("f"), reg("f/g")], "f/g", "a parent is not a directory"),
    ([link("h", "missing")], "h", "does not exist"),
    ([dir_("d"), link("h", "d")], "h", "is a directory"),
    ([link("h", "/")], "h", "hard link to the root directory"),
    ([reg("a/.wh.")], "a/.wh.", "invalid whiteout"),
])
def test_refusals_name_the_entry(entries, name: str, reason: str, resolver: str,
                                 dest: Path) -> None:
    with pytest.raises(LayerEntryError) as e:
        extract(dest, *entries)
    assert e.value.name == name
    assert reason in str(e.value)
    assert str(e.value).startswith(f'layer entry "{name}": ')


def test_malicious_symlink_in_target(resolver: str, scratch: Path, dest: Path) -> None:
    # chrootarchive TestUntarWithMaliciousSymlinks (CVE-2018-15664): the target already
    # holds a symlink to a host directory; a layer writes a file "into" it.
    (scratch / "host-file").write_text("I am a host file")
    (dest / "safe").symlink_to(scratch)
    with pytest.raises(LayerEntryError, match="escapes the root"):
        extract(dest, reg("safe/host-file", b"pwn3d"))
    assert (scratch / "host-file").read_text() == "I am a host file"


def test_absolute_names_are_made_relative(resolver: str, dest: Path) -> None:
    extract(dest, reg("/etc/hostname", b"h"), reg("/../../etc/motd", b"m"), dir_("/"))
    assert (dest / "etc/hostname").read_bytes() == b"h"
    assert (dest / "etc/motd").read_bytes() == b"m"


def test_symlinks_inside_the_root_are_followed_for_parents(resolver: str, dest: Path) -> None:
    extract(dest, dir_("usr/lib"), sym("lib", "usr/lib"), reg("lib/libc.so", b"c"),
            dir_("a/b"), sym("a/up", "../usr"), reg("a/up/marker", b"m"))
    assert (dest / "usr/lib/libc.so").read_bytes() == b"c"
    assert (dest / "usr/marker").read_bytes() == b"m"
    assert (dest / "lib").is_symlink()


def test_symlinks_are_data(resolver: str, dest: Path) -> None:
    extract(dest, sym("abs", "/etc/shadow"), sym("rel", "../../../../etc/shadow"),
            sym("dangling", "nowhere"))
    assert os.readlink(dest / "abs") == "/etc/shadow"
    assert os.readlink(dest / "rel") == "../../../../etc/shadow"
    assert os.readlink(dest / "dangling") == "nowhere"


def test_file_over_symlink_replaces_the_symlink(resolver: str, scratch: Path,
                                                dest: Path) -> None:
    outside = scratch / "outside"
    outside.write_text("keep")
    extract(dest, sym("f", str(outside)), reg("f", b"new"))
    assert not (dest / "f").is_symlink()
    assert (dest / "f").read_bytes() == b"new"
    assert outside.read_text() == "keep"


# --- links -------------------------------------------------------------------------------


def test_hardlink_to_symlink(resolver: str, dest: Path) -> None:
    # moby TestUntarHardlinkToSymlink: the link is to the symlink itself.
    extract(dest, sym("symlink1", "regfile"), link("symlink2", "symlink1"),
            reg("regfile", b"data"))
    assert (dest / "symlink2").is_symlink()
    assert os.readlink(dest / "symlink2") == "regfile"
    assert os.lstat(dest / "symlink1").st_ino == os.lstat(dest / "symlink2").st_ino


def test_hardlinks_share_an_inode(resolver: str, dest: Path) -> None:
    extract(dest, reg("bin/busybox", b"\x7fELF", mode=0o755), link("bin/sh", "bin/busybox"),
            link("usr/bin/env", "/bin/busybox"), link("bin/self", "bin/self"))
    ino = (dest / "bin/busybox").stat().st_ino
    assert (dest / "bin/sh").stat().st_ino == ino
    assert (dest / "usr/bin/env").stat().st_ino == ino
    assert (dest / "bin/busybox").stat().st_nlink == 3


def test_hardlink_to_lower_content_in_apply_format(dest: Path) -> None:
    extract(dest, reg("lower", b"l"), whiteout_format="apply")
    extract(dest, link("upper", "lower"), whiteout_format="apply")
    assert (dest / "upper").stat().st_ino == (dest / "lower").stat().st_ino


# --- replacing types ---------------------------------------------------------------------


def test_file_over_directory_removes_the_tree(dest: Path) -> None:
    extract(dest, dir_("x"), dir_("x/y"), reg("x/y/z", b"z"))
    extract(dest, reg("x", b"file"))
    assert (dest / "x").read_bytes() == b"file"


def test_directory_over_file(dest: Path) -> None:
    extract(dest, reg("x", b"file"))
    extract(dest, dir_("x", mode=0o700), reg("x/y", b"y"))
    assert (dest / "x/y").read_bytes() == b"y"
    assert stat.S_IMODE((dest / "x").stat().st_mode) == 0o700


def test_directory_over_directory_merges(dest: Path) -> None:
    extract(dest, dir_("d"), reg("d/old", b"o"))
    extract(dest, dir_("d", mode=0o750), reg("d/new", b"n"))
    assert sorted(os.listdir(dest / "d")) == ["new", "old"]
    assert stat.S_IMODE((dest / "d").stat().st_mode) == 0o750


def test_symlink_over_directory_and_directory_over_symlink(dest: Path) -> None:
    extract(dest, dir_("a"), reg("a/f"), sym("b", "a"))
    extract(dest, sym("a", "elsewhere"), dir_("b"))
    assert os.readlink(dest / "a") == "elsewhere"
    assert (dest / "b").is_dir() and not (dest / "b").is_symlink()


# --- modes, owners, times, xattrs ----------------------------------------------------------


def test_setuid_kept(dest: Path) -> None:
    extract(dest, reg("bin/su", b"x", mode=0o4755), dir_("shared", mode=0o2775),
            dir_("tmp", mode=0o1777))
    assert stat.S_IMODE((dest / "bin/su").stat().st_mode) == 0o4755
    assert stat.S_IMODE((dest / "shared").stat().st_mode) == 0o2775
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777


def test_setuid_stripped_in_rootless_mode(dest: Path) -> None:
    extract(dest, reg("bin/su", b"x", mode=0o6755), dir_("shared", mode=0o2775),
            dir_("tmp", mode=0o1777), rootless=True)
    assert stat.S_IMODE((dest / "bin/su").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "shared").stat().st_mode) == 0o775
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777


def test_modes_do_not_depend_on_umask(dest: Path) -> None:
    old = os.umask(0o077)
    try:
        extract(dest, reg("a/b/f", b"x", mode=0o644), dir_("d", mode=0o755))
    finally:
        os.umask(old)
    assert stat.S_IMODE((dest / "a").stat().st_mode) == 0o755  # made for a parent
    assert stat.S_IMODE((dest / "a/b/f").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "d").stat().st_mode) == 0o755


def test_read_only_directory_gets_its_children_first(dest: Path) -> None:
    extract(dest, dir_("ro", mode=0o555), reg("ro/f", b"x"), dir_("ro/sub", mode=0o500),
            reg("ro/sub/g", b"y"))
    assert (dest / "ro/sub/g").read_bytes() == b"y"
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((dest / "ro/sub").stat().st_mode) == 0o500


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_numeric_owners_without_name_lookups(dest: Path) -> None:
    info, data = reg("f", b"x", uid=4321, gid=8765)
    info.uname, info.gname = "no-such-user-here", "no-such-group"
    extract(dest, (info, data), sym("l", "f", uid=11, gid=12), dir_("d", uid=13, gid=14))
    st = (dest / "f").stat()
    assert (st.st_uid, st.st_gid) == (4321, 8765)
    assert (os.lstat(dest / "l").st_uid, os.lstat(dest / "l").st_gid) == (11, 12)
    assert ((dest / "d").stat().st_uid, (dest / "d").stat().st_gid) == (13, 14)


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_chown_keeps_setuid(dest: Path) -> None:
    extract(dest, reg("ping", b"x", mode=0o4755, uid=0, gid=0),
            reg("suid-user", b"x", mode=0o4750, uid=1000, gid=1000))
    assert stat.S_IMODE((dest / "ping").stat().st_mode) == 0o4755
    assert stat.S_IMODE((dest / "suid-user").stat().st_mode) == 0o4750


def test_times(dest: Path) -> None:
    extract(dest, dir_("d", mtime=1_000_000_000), reg("d/f", b"x", mtime=1_100_000_000),
            sym("d/l", "f", mtime=1_200_000_000),
            reg("frac", b"", pax={"mtime": "1500000000.123456789", "atime": "1400000000.5"}))
    assert (dest / "d").stat().st_mtime == 1_000_000_000  # set after its children
    assert (dest / "d/f").stat().st_mtime == 1_100_000_000
    assert os.lstat(dest / "d/l").st_mtime == 1_200_000_000
    st = (dest / "frac").stat()
    assert st.st_mtime_ns == 1_500_000_000_123_456_789
    assert st.st_atime_ns == 1_400_000_000_500_000_000


def test_user_xattrs_applied_overlay_ones_refused(dest: Path) -> None:
    pax = {"SCHILY.xattr.user.comment": "hi", "SCHILY.xattr.trusted.overlay.opaque": "y",
           "SCHILY.xattr.user.overlay.redirect": "/etc"}
    try:
        os.setxattr(dest, "user.probe", b"1")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    stats = extract(dest, dir_("d", pax=pax), reg("f", b"x", pax=pax))
    for p in (dest / "d", dest / "f"):
        assert os.getxattr(p, "user.comment") == b"hi"
        assert "user.overlay.redirect" not in os.listxattr(p)
        if ROOT:
            assert "trusted.overlay.opaque" not in os.listxattr(p)
    assert any("overlayfs metadata" in w for w in stats.warnings)


def test_binary_xattr_values_survive(dest: Path) -> None:
    try:
        os.setxattr(dest, "user.probe", b"1")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    value = b"\x00\xff\x01binary"
    info, data = reg("f", b"x")
    info.pax_headers = {"SCHILY.xattr.user.bin": value.decode("utf-8", "surrogateescape")}
    extract(dest, (info, data))
    assert os.getxattr(dest / "f", "user.bin") == value


# --- special files -------------------------------------------------------------------------


def test_fifo_is_created(dest: Path) -> None:
    extract(dest, entry("run/fifo", tarfile.FIFOTYPE, mode=0o620))
    st = (dest / "run/fifo").lstat()
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620


def test_devices_skipped_in_rootless_mode(dest: Path) -> None:
    stats = extract(dest, entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3,
                                mode=0o666), reg("dev/after", b"x"), rootless=True)
    assert not (dest / "dev/null").exists()
    assert (dest / "dev/after").exists()
    assert any("dev/null" in w and "skipped" in w for w in stats.warnings)


@pytest.mark.skipif(not ROOT, reason="mknod needs root")
def test_devices_created_as_root(dest: Path) -> None:
    extract(dest, entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
            entry("dev/loop9", tarfile.BLKTYPE, devmajor=7, devminor=9, mode=0o660))
    st = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o666
    assert stat.S_ISBLK((dest / "dev/loop9").lstat().st_mode)


@pytest.mark.skipif(ROOT, reason="checks the non-root path")
def test_devices_skipped_when_not_root(dest: Path) -> None:
    stats = extract(dest, entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3))
    assert not (dest / "dev/null").exists() and stats.warnings


def test_unsupported_entry_type(dest: Path) -> None:
    with pytest.raises(LayerEntryError, match="unsupported tar entry type"):
        extract(dest, entry("tape", b"V"))


# --- "apply" format whiteouts (overlay format: tests/integration/test_archive_overlay.py) ----


def test_apply_whiteouts_delete(dest: Path) -> None:
    extract(dest, dir_("etc"), reg("etc/a", b"a"), reg("etc/b", b"b"), dir_("var/cache"),
            reg("var/cache/x"), whiteout_format="apply")
    stats = extract(dest, reg("etc/.wh.a"), reg("var/.wh.cache"), reg(".wh.missing"),
                    whiteout_format="apply")
    assert sorted(os.listdir(dest / "etc")) == ["b"]
    assert os.listdir(dest / "var") == []
    assert stats.whiteouts == 3


@pytest.mark.parametrize("marker_first", [True, False])
def test_apply_opaque_hides_lower_children_only(marker_first: bool, dest: Path) -> None:
    extract(dest, dir_("d"), reg("d/lower1"), dir_("d/sub"), reg("d/sub/lower2"),
            reg("keep/other"), whiteout_format="apply")
    marker = reg("d/.wh..wh..opq")
    own = [reg("d/new", b"n"), reg("d/sub/new2", b"n2")]
    entries = [marker, *own] if marker_first else [*own, marker]
    extract(dest, *entries, whiteout_format="apply")
    assert sorted(os.listdir(dest / "d")) == ["new", "sub"]
    assert os.listdir(dest / "d/sub") == ["new2"]
    assert (dest / "keep/other").exists()


def test_aufs_metadata_is_skipped(dest: Path) -> None:
    stats = extract(dest, dir_(".wh..wh.plnk"), reg(".wh..wh.plnk/123.456"), reg("ok"))
    assert os.listdir(dest) == ["ok"]
    assert stats.entries == 3


# --- digests, codecs, the stream ---------------------------------------------------------


def _layer() -> bytes:
    return tar_bytes(dir_("etc"), reg("etc/os-release", b"ID=test\n" * 1000),
                     sym("bin/sh", "busybox"))


@pytest.mark.parametrize("codec", list(Codec))
def test_stats_carry_both_digests(codec: Codec, dest: Path) -> None:
    tar = _layer()
    out = io.BytesIO()
    w = CompressingWriter(out, codec)
    w.write(tar)
    w.close()
    blob = out.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    stats = extract_layer(io.BytesIO(blob), dest, expected_digest=digest,
                          expected_size=len(blob), expected_diff_id=diff_id,
                          media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    assert (stats.diff_id, stats.digest, stats.codec) == (diff_id, digest, codec)
    assert (stats.size, stats.compressed_size) == (len(tar), len(blob))
    assert stats.entries == 3  # an implicit parent (bin) is not an entry


def test_blob_digest_mismatch(dest: Path) -> None:
    blob = gzip.compress(_layer())
    wrong = "sha256:" + "1" * 64
    with pytest.raises(DigestMismatch) as e:
        extract_layer(io.BytesIO(blob), dest, expected_digest=wrong, label="layer sha256:111")
    assert e.value.expected == wrong
    assert e.value.actual == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert "layer sha256:111" in str(e.value)


def test_diff_id_mismatch(dest: Path) -> None:
    wrong = "sha256:" + "2" * 64
    for blob in (gzip.compress(_layer()), _layer()):
        with pytest.raises(DigestMismatch, match="diff ID"):
            extract_layer(io.BytesIO(blob), dest, expected_diff_id=wrong)


def test_truncated_download(dest: Path) -> None:
    blob = gzip.compress(_layer())
    with pytest.raises(SizeMismatch):
        extract_layer(io.BytesIO(blob[:-20]), dest, expected_size=len(blob))
    with pytest.raises(ArchiveError, match="unexpected end of data"):
        extract_layer(io.BytesIO(blob[:-20]), dest)


def test_truncated_tar(scratch: Path) -> None:
    tar = tar_bytes(reg("a", b"x" * 5000), reg("b", b"y" * 5000))
    for cut in (700, 512 + 1000, 512 * 12 + 100):
        target = scratch / f"t{cut}"
        target.mkdir()
        with pytest.raises(ArchiveError):
            extract_layer(io.BytesIO(tar[:cut]), target)


def test_corrupt_header_mid_stream(dest: Path) -> None:
    tar = bytearray(tar_bytes(reg("a", b"x" * 600), reg("b", b"y")))
    tar[512 * 3 + 148] ^= 0x11  # the second header's checksum
    with pytest.raises(ArchiveError, match="invalid tar header"):
        extract_layer(io.BytesIO(bytes(tar)), dest)


def test_oversized_pax_header_refused(dest: Path) -> None:
    info, data = reg("f")
    info.pax_headers = {"comment": "x" * (1 << 20)}
    with pytest.raises(ArchiveError, match="header record"):
        extract(dest, (info, data))


def test_long_names(dest: Path) -> None:
    name = "/".join(["d" * 60] * 5) + "/" + "f" * 200
    target = "t" * 300
    extract(dest, reg(name, b"x"), sym("s", target), link("h", name))
    assert (dest / name).read_bytes() == b"x"
    assert os.readlink(dest / "s") == target


def test_empty_streams(dest: Path) -> None:
    assert extract_layer(io.BytesIO(b""), dest).entries == 0
    stats = extract_layer(io.BytesIO(bytes(1024)), dest)
    assert stats.entries == 0 and stats.size == 1024


def test_trailing_bytes_are_part_of_the_diff_id(dest: Path) -> None:
    tar = _layer() + bytes(8192)
    stats = extract_layer(io.BytesIO(gzip.compress(tar)), dest)
    assert stats.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()


def test_not_a_tar(dest: Path) -> None:
    with pytest.raises(ArchiveError):
        extract_layer(io.BytesIO(b"this is not a tar stream at all" * 40), dest)


def test_unknown_media_type(dest: Path) -> None:
    with pytest.raises(UnknownMediaType, match="tar\\+lz4"):
        extract_layer(io.BytesIO(_layer()), dest,
                      media_type="application/vnd.oci.image.layer.v1.tar+lz4")


def test_cancel_and_progress(scratch: Path) -> None:
    tar = tar_bytes(*[reg(f"f{i}", os.urandom(300_000)) for i in range(20)])
    blob = gzip.compress(tar, compresslevel=1)
    seen: list[int] = []
    dest = scratch / "ok"
    dest.mkdir()
    extract_layer(io.BytesIO(blob), dest, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == len(blob)

    before = threading.active_count()
    cancel = threading.Event()

    def progress(n: int) -> None:
        if n > len(blob) // 3:
            cancel.set()

    dest = scratch / "cancelled"
    dest.mkdir()
    with pytest.raises(Cancelled):
        extract_layer(io.BytesIO(blob), dest, cancel=cancel, progress=progress)
    assert threading.active_count() == before  # the read-ahead worker was joined
    dest = scratch / "cancelled-early"
    dest.mkdir()
    with pytest.raises(Cancelled):
        extract_layer(io.BytesIO(blob), dest, cancel=lambda: True)


def test_error_in_the_middle_joins_the_worker(dest: Path) -> None:
    before = threading.active_count()
    with pytest.raises(LayerEntryError):
        extract(dest, reg("a"), reg("../b"), *[reg(f"c{i}", b"x" * 10000) for i in range(50)])
    assert threading.active_count() == before


def test_bad_whiteout_format(dest: Path) -> None:
    with pytest.raises(ValueError, match="whiteout format"):
        extract(dest, reg("a"), whiteout_format="aufs")  # type: ignore[arg-type]


@pytest.mark.parametrize("pax", [
    {"path": "a\x00b"},
    {"linkpath": "x\x00y"},
    {"SCHILY.xattr.user.a\x00b": "v"},
])
def test_nul_bytes_are_refused(pax: dict[str, str], dest: Path) -> None:
    info, data = sym("s", "t") if "linkpath" in pax else reg("f")
    info.pax_headers = pax
    with pytest.raises(LayerEntryError):
        extract(dest, (info, data))


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-1e400", "x"])
def test_absurd_times_are_skipped(value: str, dest: Path) -> None:
    stats = extract(dest, reg("f", b"x", pax={"mtime": value}), dir_("d", pax={"mtime": value}),
                    sym("s", "f", pax={"mtime": value}))
    assert (dest / "f").read_bytes() == b"x"
    assert stats.entries == 3


@pytest.mark.skipif(not ROOT, reason="only root applies owners")
def test_ids_out_of_range_are_refused(dest: Path) -> None:
    with pytest.raises(LayerEntryError, match='layer entry "f"'):
        extract(dest, reg("f", pax={"uid": str(1 << 40)}))


def test_errors_name_the_image_and_layer(dest: Path) -> None:
    label = "busybox:latest layer sha256:" + "a" * 64
    with pytest.raises(LayerEntryError) as e:
        extract(dest, reg("etc/../../x"), label=label)
    assert str(e.value) == f'{label}: layer entry "etc/../../x": escapes the root'
    with pytest.raises(DigestMismatch, match="busybox:latest layer"):
        extract(dest, reg("ok"), label=label, expected_digest="sha256:" + "0" * 64)

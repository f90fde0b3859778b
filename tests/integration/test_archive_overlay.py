"""Overlay-format layers against the real overlayfs (root: 0/0 devices, trusted.* xattrs).

Layers are extracted into directories, stacked with ``mount -t overlay`` inside
``unshare -m`` (a private mount namespace: the mounts vanish with the process, even when
the test fails), and the merged view is compared with what the layers mean. The other
way round, changes made through a mounted overlay leave kernel-made whiteouts in the
upper directory, and ``write_diff`` must turn those into OCI whiteouts.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.store.archive import ArchiveError, extract_layer, write_diff, write_tree

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)"),
]


def tar_of(*entries: tuple[str, bytes, bytes]) -> bytes:
    """(name, type, data) entries, written as given."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.mtime = 1_600_000_000
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.size else None)
    return bio.getvalue()


def F(name: str, data: bytes = b"x") -> tuple[str, bytes, bytes]:
    return name, tarfile.REGTYPE, data


def D(name: str) -> tuple[str, bytes, bytes]:
    return name, tarfile.DIRTYPE, b""


LAYER1 = tar_of(D("etc"), F("etc/passwd", b"root"), F("etc/motd", b"hello"),
                D("var"), D("var/cache"), F("var/cache/a"), D("var/cache/sub"),
                F("var/cache/sub/b"), D("opt"), F("opt/tool"))
LAYER2 = tar_of(D("etc"), F("etc/.wh.motd"), F(".wh.opt"), D("var/cache"),
                F("var/cache/.wh..wh..opq"), F("var/cache/fresh", b"new"),
                F("etc/hostname", b"box"))


def in_namespace(script: str) -> str:
    """Run ``script`` with sh in a private mount namespace; returns its stdout."""
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-euc", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def listing(root: Path) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        out += [os.path.normpath(os.path.join(rel, n)) for n in dirs + files]
    return sorted(out)


def members(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, Path]:
    l1, l2 = tmp_path / "l1", tmp_path / "l2"
    l1.mkdir()
    l2.mkdir()
    extract_layer(io.BytesIO(LAYER1), l1)
    extract_layer(io.BytesIO(LAYER2), l2)
    return l1, l2


def test_overlay_whiteouts_on_disk(layers: tuple[Path, Path]) -> None:
    _, l2 = layers
    for name in ("etc/motd", "opt"):
        st = os.lstat(l2 / name)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(l2 / "var/cache", "trusted.overlay.opaque") == b"y"
    assert not (l2 / "var/cache/.wh..wh..opq").exists()


def test_rootless_opaque_uses_user_xattr(tmp_path: Path) -> None:
    extract_layer(io.BytesIO(LAYER2), tmp_path, rootless=True)
    assert os.getxattr(tmp_path / "var/cache", "user.overlay.opaque") == b"y"
    assert "trusted.overlay.opaque" not in os.listxattr(tmp_path / "var/cache")


def test_merged_view_hides_deleted_files(layers: tuple[Path, Path], tmp_path: Path) -> None:
    l1, l2 = layers
    merged = tmp_path / "merged"
    merged.mkdir()
    out = in_namespace(f"mount -t overlay overlay -o lowerdir={l2}:{l1} {merged}\n"
                       f"cd {merged} && find . | sort && cat var/cache/fresh")
    seen = [line[2:] for line in out.splitlines()[:-1] if line.startswith("./")]
    assert seen == sorted([
        "etc", "etc/hostname", "etc/passwd", "var", "var/cache", "var/cache/fresh",
    ])
    assert out.splitlines()[-1] == "new"
    assert not os.listdir(merged)  # the mount went with the namespace


def test_overlay_layer_diffs_back_to_oci(layers: tuple[Path, Path]) -> None:
    _, l2 = layers
    out = io.BytesIO()
    write_diff(l2, out)
    # In the order of the names on disk, as Docker's converter writes them.
    assert members(out.getvalue()) == [
        "etc", "etc/hostname", "etc/.wh.motd", ".wh.opt",
        "var", "var/cache", "var/cache/.wh..wh..opq", "var/cache/fresh",
    ]


def test_diff_of_kernel_made_whiteouts(layers: tuple[Path, Path], tmp_path: Path) -> None:
    l1, l2 = layers
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, merged):
        d.mkdir()
    # What a container does: delete, replace a directory wholesale, add.
    in_namespace(
        f"mount -t overlay overlay -o lowerdir={l2}:{l1},upperdir={upper},workdir={work},"
        f"redirect_dir=off,metacopy=off,index=off {merged}\n"
        f"cd {merged}\n"
        "rm etc/passwd\n"
        "rm -rf var/cache && mkdir var/cache && echo again > var/cache/c\n"
        "echo added > etc/new\n"
    )
    out = io.BytesIO()
    write_diff(upper, out)
    names = members(out.getvalue())
    assert names == ["etc", "etc/new", "etc/.wh.passwd", "var", "var/cache",
                     "var/cache/.wh..wh..opq", "var/cache/c"]

    # Applied as a third layer, the diff gives the same merged view as the container had.
    l3, merged2 = tmp_path / "l3", tmp_path / "merged2"
    l3.mkdir()
    merged2.mkdir()
    extract_layer(io.BytesIO(out.getvalue()), l3)
    script = ("find . | sort\n")
    a = in_namespace(f"mount -t overlay overlay -o lowerdir={upper}:{l2}:{l1} {merged}\n"
                     f"cd {merged}\n{script}")
    b = in_namespace(f"mount -t overlay overlay -o lowerdir={l3}:{l2}:{l1} {merged2}\n"
                     f"cd {merged2}\n{script}")
    assert a == b
    assert "./etc/passwd" not in a and "./var/cache/c" in a and "./var/cache/a" not in a


def test_apply_format_gives_the_merged_view(layers: tuple[Path, Path], tmp_path: Path) -> None:
    l1, l2 = layers
    merged, flat = tmp_path / "merged", tmp_path / "flat"
    merged.mkdir()
    flat.mkdir()
    extract_layer(io.BytesIO(LAYER1), flat, whiteout_format="apply")
    extract_layer(io.BytesIO(LAYER2), flat, whiteout_format="apply")
    out = in_namespace(f"mount -t overlay overlay -o lowerdir={l2}:{l1} {merged}\n"
                       f"cd {merged} && find . -mindepth 1 | sort")
    assert [line[2:] for line in out.splitlines()] == listing(flat)


def test_overlay_metadata_in_upper_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    os.setxattr(tmp_path / "f", "trusted.overlay.metacopy", b"")
    with pytest.raises(ArchiveError, match="metacopy"):
        write_diff(tmp_path, io.BytesIO())


def test_trusted_xattrs_other_than_overlay_round_trip(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "f").write_bytes(b"x")
    os.setxattr(src / "f", "trusted.dockyard-test", b"v")
    os.setxattr(src / "f", "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    out = io.BytesIO()
    write_tree(src, out)
    extract_layer(io.BytesIO(out.getvalue()), dst)
    assert os.getxattr(dst / "f", "trusted.dockyard-test") == b"v"
    assert os.getxattr(dst / "f", "security.capability") == \
        os.getxattr(src / "f", "security.capability")

"""Offline base images: a busybox root filesystem from Debian's ``busybox-static``.

Stdlib only. Used by the quickstart and by every integration test, so it must be
small, deterministic and atomic: the tree is built in a temporary directory beside
``dest`` and renamed into place, so ``dest`` either does not exist or is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
dyuser:x:1000:1000:dyuser:/home/dyuser:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:
tty:x:5:
dyuser:x:1000:
nogroup:x:65534:
"""

# directory -> mode; created empty (mount points and writable scratch space)
DIRS = {
    "bin": 0o755,
    "sbin": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "etc": 0o755,
    "proc": 0o555,
    "sys": 0o555,
    "dev": 0o755,
    "tmp": 0o1777,
    "root": 0o700,
    "home/dyuser": 0o755,
    "var/tmp": 0o1777,
    "run": 0o755,
}


def applets(busybox: Path = BUSYBOX) -> list[str]:
    """Relative install paths of every applet (``busybox --list-full``), e.g. ``bin/sh``."""
    out = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout
    return sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()})


def _populate(root: Path, busybox: Path) -> None:
    for rel, mode in DIRS.items():
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, mode)  # explicit: mkdir's mode is filtered by the umask
    os.chown(root / "home/dyuser", 1000, 1000)
    shutil.copyfile(busybox, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    for rel in applets(busybox):
        if rel == "bin/busybox":
            continue
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        # relative links, so the tree can also be inspected from the host
        target = os.path.relpath(root / "bin/busybox", link.parent)
        os.symlink(target, link)
    for rel, text in {
        "etc/passwd": PASSWD,
        "etc/group": GROUP,
        "etc/hostname": "",
    }.items():
        (root / rel).write_text(text)
        os.chmod(root / rel, 0o644)
    os.chmod(root, 0o755)


def build_busybox_rootfs(dest: Path, busybox: Path = BUSYBOX) -> Path:
    """Build a busybox root filesystem at ``dest`` (atomically) and return ``dest``.

    If ``dest`` already exists it is assumed complete (it can only appear by rename)
    and is returned unchanged.
    """
    dest = Path(dest).absolute()
    if dest.exists():
        return dest
    if not busybox.exists():
        raise FileNotFoundError(f"{busybox}: install Debian's busybox-static")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _populate(tmp, busybox)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.exists():  # lost a race to a concurrent builder: theirs is complete
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


def _copy_owners(src: Path, dst: Path) -> None:
    """copytree keeps modes but not owners; restore the few non-root owners."""
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_uid or st.st_gid:
                rel = os.path.relpath(os.path.join(dirpath, name), src)
                os.lchown(dst / rel, st.st_uid, st.st_gid)


def write_bundle(bundle: Path, config: dict, rootfs_src: Path | None = None) -> Path:
    """Make an OCI bundle: ``bundle/config.json`` and (optionally) a copy of ``rootfs_src``.

    The copy keeps symlinks as symlinks, so a busybox tree costs one 2 MB file copy.
    ``root.path`` defaults to ``rootfs``.
    """
    bundle = Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    config = dict(config)
    config.setdefault("root", {"path": "rootfs"})
    if rootfs_src is not None:
        rootfs = Path(config["root"]["path"])
        if not rootfs.is_absolute():
            rootfs = bundle / rootfs
        shutil.copytree(rootfs_src, rootfs, symlinks=True)
        _copy_owners(Path(rootfs_src), rootfs)
        os.chmod(rootfs, 0o755)
    tmp = bundle / ".config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.rename(tmp, bundle / "config.json")
    return bundle


def main(argv: list[str] | None = None) -> int:
    """`python -m dockyard.image.bootstrap busybox DEST`: build a rootfs at DEST."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "busybox":
        print("usage: python -m dockyard.image.bootstrap busybox DEST", file=sys.stderr)
        return 2
    print(build_busybox_rootfs(Path(args[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

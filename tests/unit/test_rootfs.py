"""The container's filesystem plan (runtime/rootfs.py, runtime/saferoot.py), run against
the recording fake on a real temporary rootfs: privileged calls are only recorded, path
resolution (openat2 RESOLVE_IN_ROOT) and directory creation are real."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime import rootfs
from dockyard.runtime.config import Config, Device, Mount, parse_config
from dockyard.runtime.errors import ConfigError
from dockyard.runtime.linux import constants as c
from dockyard.runtime.linux.fake import RecordingSyscalls
from dockyard.runtime.mountopts import MOUNT_ATTR_NOEXEC, MOUNT_ATTR_RDONLY
from dockyard.runtime.rootfs import RootfsContext
from dockyard.runtime.saferoot import ensure_file, fd_path, is_symlink, mkdir_all, open_in_root

pytestmark = pytest.mark.unit


FD_PREFIX = "/proc/self/fd/"


def _resolve(path: Any) -> Any:
    """/proc/self/fd/N -> the path it names now (while the fd is still open)."""
    if isinstance(path, str) and path.startswith(FD_PREFIX):
        return os.readlink(path)
    return path


class Syscalls(RecordingSyscalls):
    """The recording fake, with fd-based targets recorded as the paths they name, so that
    a test can check where a mount would land. `fail_when(call) -> OSError | None` raises
    for chosen calls only."""

    def __init__(self, fail_when=None, **kw: Any) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kw)
        self.fail_when = fail_when

    def _record(self, name: str, *args: Any) -> None:
        super()._record(name, *args)
        if self.fail_when is not None:
            err = self.fail_when(self.calls[-1])
            if err is not None:
                raise err

    def mount(self, source, target, fstype, flags, data) -> None:  # type: ignore[no-untyped-def]
        super().mount(_resolve(source), _resolve(target), fstype, flags, data)

    def mount_setattr(self, fd: int, attr_set: int, attr_clear: int, recursive: bool) -> None:
        self._record("mount_setattr", _resolve(fd_path(fd)), attr_set, attr_clear, recursive)

    def mknod(self, path: str, mode: int, device: int, dir_fd: int | None = None) -> None:
        where = path if dir_fd is None else os.path.join(_resolve(fd_path(dir_fd)), path)
        self._record("mknod", where, mode, device)

    def symlink(self, target: str, path: str, dir_fd: int | None = None) -> None:
        where = path if dir_fd is None else os.path.join(_resolve(fd_path(dir_fd)), path)
        self._record("symlink", target, where)

    def without(self, *names: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] not in names]


@pytest.fixture
def sys() -> Syscalls:
    return Syscalls()


@pytest.fixture
def bundle(scratch: Path) -> Path:
    root = scratch / "bundle" / "rootfs"
    for name in ("bin", "etc", "dev", "proc", "sys", "tmp"):
        (root / name).mkdir(parents=True)
    return scratch / "bundle"


@pytest.fixture
def root(bundle: Path) -> Path:
    return bundle / "rootfs"


@pytest.fixture
def root_fd(root: Path) -> Iterator[int]:
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    yield fd
    os.close(fd)


def where(fd: int) -> str:
    try:
        return os.readlink(fd_path(fd))
    finally:
        os.close(fd)


def make_config(bundle: Path, mounts: list[dict[str, Any]] | None = None, *,
                hostname: str = "", domainname: str = "", root_readonly: bool = False,
                **linux: Any) -> Config:
    raw: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs", "readonly": root_readonly},
        "process": {"args": ["sh"], "cwd": "/"},
        "hostname": hostname,
        "domainname": domainname,
        "mounts": mounts or [],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "network"},
                                 {"type": "ipc"}], **linux},
    }
    return parse_config(raw, str(bundle))


def ctx_for(config: Config, bundle: Path, **kw: Any) -> RootfsContext:
    return RootfsContext(config=config, bundle=str(bundle), **kw)


@pytest.fixture
def chowns(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """os.chown recorded: the fake's mknod creates nothing for rootfs to chown."""
    calls: list[tuple[Any, ...]] = []

    def chown(path, uid, gid, *, dir_fd=None, follow_symlinks=True):  # type: ignore[no-untyped-def]
        base = _resolve(fd_path(dir_fd)) if dir_fd is not None else ""
        calls.append((os.path.join(base, path), uid, gid, follow_symlinks))

    monkeypatch.setattr(os, "chown", chown)
    return calls


# --- saferoot: paths resolved inside the root -----------------------------------------


def test_mkdir_all_creates_nested_directories(sys: Syscalls, root: Path, root_fd: int) -> None:
    assert where(mkdir_all(sys, root_fd, "/a/b/c")) == str(root / "a/b/c")
    assert (root / "a/b/c").is_dir()
    opens = sys.named("openat2")
    assert opens and all(call[4] == c.RESOLVE_IN_ROOT for call in opens)
    assert sys.without("openat2") == []  # nothing privileged


def test_mkdir_all_existing_and_root(sys: Syscalls, root: Path, root_fd: int) -> None:
    assert where(mkdir_all(sys, root_fd, "/etc")) == str(root / "etc")
    assert where(mkdir_all(sys, root_fd, "/")) == str(root)
    assert where(mkdir_all(sys, root_fd, "//etc//x/")) == str(root / "etc/x")


@pytest.mark.parametrize(
    ("link", "target"),
    [("etc2", "/"), ("a", "../../.."), ("abs", "/../../../.."), ("deep/up", "../../../..")],
)
def test_mkdir_all_stays_inside_root_through_symlinks(
    sys: Syscalls, root: Path, root_fd: int, link: str, target: str
) -> None:
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, root / link)
    name = f"escape-{os.getpid()}-{link.replace('/', '-')}"
    created = where(mkdir_all(sys, root_fd, f"/{link}/{name}/sub"))
    assert created == str(root / name / "sub")
    assert (root / name / "sub").is_dir()
    assert not os.path.exists(f"/{name}")
    assert not (root.parent.parent / name).exists()


def test_mkdir_all_symlink_etc_to_root(sys: Syscalls, root: Path, root_fd: int) -> None:
    os.rmdir(root / "etc")
    os.symlink("/", root / "etc")
    assert where(mkdir_all(sys, root_fd, "/etc/ssl/certs")) == str(root / "ssl/certs")
    assert (root / "ssl/certs").is_dir()


def test_mkdir_all_through_a_file_fails(sys: Syscalls, root: Path, root_fd: int) -> None:
    (root / "etc/passwd").write_text("")
    with pytest.raises(NotADirectoryError, match="/etc/passwd is not a directory"):
        mkdir_all(sys, root_fd, "/etc/passwd/x")


def test_ensure_file(sys: Syscalls, root: Path, root_fd: int) -> None:
    assert where(ensure_file(sys, root_fd, "/etc/resolv.conf")) == str(root / "etc/resolv.conf")
    assert (root / "etc/resolv.conf").is_file()
    assert (root / "etc/resolv.conf").stat().st_size == 0
    (root / "etc/hosts").write_text("keep")
    assert where(ensure_file(sys, root_fd, "/etc/hosts")) == str(root / "etc/hosts")
    assert (root / "etc/hosts").read_text() == "keep"
    assert where(ensure_file(sys, root_fd, "/new/dir/file")) == str(root / "new/dir/file")


def test_ensure_file_stays_inside_root(sys: Syscalls, root: Path, root_fd: int) -> None:
    os.symlink("../../..", root / "up")
    name = f"escape-file-{os.getpid()}"
    assert where(ensure_file(sys, root_fd, f"/up/{name}")) == str(root / name)
    assert not os.path.exists(f"/{name}")


def test_open_in_root_and_is_symlink(sys: Syscalls, root: Path, root_fd: int) -> None:
    os.symlink("/etc", root / "link")
    assert where(open_in_root(sys, root_fd, "/link")) == str(root / "etc")
    assert where(open_in_root(sys, root_fd, "/")) == str(root)
    assert is_symlink(root_fd, "/link")
    assert not is_symlink(root_fd, "/etc")
    assert not is_symlink(root_fd, "/missing")


# --- /proc mounts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mount",
    [
        Mount("/proc", "tmpfs", "tmpfs"),
        Mount("/proc", "bind", "/tmp/fakeproc", ("bind",)),
        Mount("/proc", "sysfs", "sysfs"),
        Mount("/proc/sys", "bind", "/tmp/x", ("bind",)),
        Mount("/proc/self", "tmpfs"),
        Mount("/proc/self/attr/exec", "bind", "/tmp/x", ("bind",)),
        Mount("/proc/sys/kernel/core_pattern", "bind", "/tmp/x", ("bind",)),
        Mount("/proc/kcore", "bind", "/dev/null", ("bind",)),
        Mount("/proc/cpuinfo/x", "bind", "/tmp/x", ("bind",)),
    ],
    ids=lambda m: f"{m.type}:{m.destination}",
)
def test_check_proc_mount_refuses(mount: Mount) -> None:
    with pytest.raises(ConfigError) as info:
        rootfs.check_proc_mount(3, mount)
    assert info.value.field == "mounts[3]"
    assert mount.destination in str(info.value)


@pytest.mark.parametrize(
    "mount",
    [
        Mount("/proc", "proc", "proc"),
        *(Mount(path, "bind", "/var/lib/lxcfs" + path, ("bind",))
          for path in sorted(rootfs.PROC_MOUNT_ALLOWED)),
        Mount("/process", "tmpfs"),
        Mount("/sys", "sysfs", "sysfs"),
    ],
    ids=lambda m: m.destination,
)
def test_check_proc_mount_allows(mount: Mount) -> None:
    rootfs.check_proc_mount(0, mount)


def test_lxcfs_list() -> None:
    assert {"/proc/cpuinfo", "/proc/meminfo", "/proc/uptime", "/proc/stat", "/proc/loadavg",
            "/proc/diskstats", "/proc/swaps", "/proc/slabinfo",
            "/proc/sys/kernel/ns_last_pid"} == set(rootfs.PROC_MOUNT_ALLOWED)


# --- mount_entry --------------------------------------------------------------------------


def test_tmpfs_with_options(sys: Syscalls, bundle: Path, root: Path, root_fd: int) -> None:
    mount = Mount("/dev/shm", "tmpfs", "shm",
                  ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k"))
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0, mount)
    assert (root / "dev/shm").is_dir()
    assert sys.without("openat2") == [
        ("mount", "shm", str(root / "dev/shm"), "tmpfs", c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV,
         "mode=1777,size=65536k"),
    ]


def test_mount_without_source_or_data(sys: Syscalls, bundle: Path, root: Path,
                                      root_fd: int) -> None:
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                       Mount("/proc", "proc", "", ("nosuid", "remount", "nodev")))
    assert sys.without("openat2") == [
        ("mount", "proc", str(root / "proc"), "proc", c.MS_NOSUID | c.MS_NODEV, None),
    ]


def test_bind_ro_is_bind_then_remount(sys: Syscalls, bundle: Path, root: Path, root_fd: int,
                                      scratch: Path) -> None:
    source = scratch / "data"
    source.mkdir()
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                       Mount("/srv/data", "bind", str(source), ("bind", "ro")))
    assert (root / "srv/data").is_dir()
    locked = rootfs._locked_flags(str(root / "srv/data"))
    assert sys.without("openat2") == [
        ("mount", str(source), str(root / "srv/data"), None, c.MS_BIND, None),
        ("mount", None, str(root / "srv/data"), None,
         c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | locked, None),
    ]


def test_rbind_without_extra_flags_is_one_call(sys: Syscalls, bundle: Path, root: Path,
                                                 root_fd: int, scratch: Path) -> None:
    (scratch / "src").mkdir()
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                       Mount("/src", "none", str(scratch / "src"), ("rbind", "rw")))
    assert sys.without("openat2") == [
        ("mount", str(scratch / "src"), str(root / "src"), None, c.MS_BIND | c.MS_REC, None),
    ]


def test_bind_of_a_file_creates_a_file(sys: Syscalls, bundle: Path, root: Path,
                                       root_fd: int) -> None:
    (bundle / "hosts").write_text("127.0.0.1 localhost\n")
    # a relative source is relative to the bundle
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                       Mount("/etc/hosts", "bind", "hosts", ("rbind",)))
    assert (root / "etc/hosts").is_file()
    assert sys.without("openat2") == [
        ("mount", str(bundle / "hosts"), str(root / "etc/hosts"), None,
         c.MS_BIND | c.MS_REC, None),
    ]


def test_bind_with_propagation(sys: Syscalls, bundle: Path, root: Path, root_fd: int,
                               scratch: Path) -> None:
    (scratch / "vol").mkdir()
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                       Mount("/vol", "bind", str(scratch / "vol"),
                             ("rbind", "rprivate", "runbindable")))
    assert sys.without("openat2") == [
        ("mount", str(scratch / "vol"), str(root / "vol"), None, c.MS_BIND | c.MS_REC, None),
        ("mount", None, str(root / "vol"), None, c.MS_PRIVATE | c.MS_REC, None),
        ("mount", None, str(root / "vol"), None, c.MS_UNBINDABLE | c.MS_REC, None),
    ]


def test_bind_with_recursive_attributes(sys: Syscalls, bundle: Path, root: Path, root_fd: int,
                                        scratch: Path) -> None:
    (scratch / "vol").mkdir()
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                       Mount("/vol", "bind", str(scratch / "vol"),
                             ("rbind", "rro", "rnoexec", "rslave")))
    assert sys.without("openat2") == [
        ("mount", str(scratch / "vol"), str(root / "vol"), None, c.MS_BIND | c.MS_REC, None),
        ("mount", None, str(root / "vol"), None, c.MS_SLAVE | c.MS_REC, None),
        ("mount_setattr", str(root / "vol"), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC, 0, True),
    ]


def test_bind_source_missing(sys: Syscalls, bundle: Path, root_fd: int, scratch: Path) -> None:
    mounts = [Mount("/a", "tmpfs"), Mount("/b", "bind", str(scratch / "nope"), ("bind",))]
    with pytest.raises(ConfigError) as info:
        rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 1, mounts[1])
    assert info.value.field == "mounts[1].source"
    assert str(info.value).startswith("mounts[1].source: ")
    assert str(scratch / "nope") in str(info.value)
    assert sys.named("mount") == []


@pytest.mark.parametrize("dest", ["/proc", "/sys"])
def test_symlinked_proc_or_sys_is_refused(sys: Syscalls, bundle: Path, root: Path,
                                          root_fd: int, dest: str) -> None:
    os.rmdir(root / dest.lstrip("/"))
    os.symlink("/tmp", root / dest.lstrip("/"))
    kind = dest.lstrip("/") + ("fs" if dest == "/sys" else "")
    with pytest.raises(ConfigError) as info:
        rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 2,
                           Mount(dest, kind, kind))
    assert info.value.field == "mounts[2]"
    assert "symlink" in str(info.value)
    assert sys.named("mount") == []


def test_refused_proc_mount_records_nothing(sys: Syscalls, bundle: Path, root_fd: int) -> None:
    with pytest.raises(ConfigError, match=r"^mounts\[0\]: "):
        rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                           Mount("/proc/sys", "tmpfs"))
    assert sys.calls == []


def test_mount_failure_names_the_mount(bundle: Path, root_fd: int) -> None:
    sys = Syscalls(fail={"mount": OSError(errno.EPERM, "Operation not permitted")})
    with pytest.raises(ConfigError) as info:
        rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 4,
                           Mount("/dev/mqueue", "mqueue", "mqueue"))
    assert str(info.value) == "mounts[4]: /dev/mqueue: Operation not permitted"


def test_cgroup2_only(sys: Syscalls, bundle: Path, root: Path, root_fd: int) -> None:
    rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle, cgroup2_only=True), 0,
                       Mount("/sys/fs/cgroup", "cgroup", "cgroup",
                             ("nosuid", "noexec", "nodev", "relatime", "ro")))
    flags = c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | c.MS_RELATIME | c.MS_RDONLY
    assert sys.without("openat2") == [
        ("mount", "cgroup2", str(root / "sys/fs/cgroup"), "cgroup2", flags, None),
    ]


def test_cgroup_v1_tmpfs_with_binds(sys: Syscalls, bundle: Path, root: Path, root_fd: int,
                                    scratch: Path) -> None:
    dirs = {"memory": str(scratch / "memory"), "": str(scratch / "unified")}
    ctx = ctx_for(make_config(bundle), bundle, cgroup_dirs=dirs)
    rootfs.mount_entry(sys, root_fd, ctx, 0,
                       Mount("/sys/fs/cgroup", "cgroup", "cgroup", ("nosuid", "ro")))
    cg = root / "sys/fs/cgroup"
    assert sys.without("openat2") == [
        ("mount", "tmpfs", str(cg), "tmpfs", c.MS_NOSUID, "mode=755"),
        ("mount", dirs[""], str(cg / "unified"), None, c.MS_BIND | c.MS_REC, None),
        ("mount", None, str(cg / "unified"), None,
         c.MS_BIND | c.MS_REMOUNT | c.MS_NOSUID | c.MS_RDONLY, None),
        ("mount", dirs["memory"], str(cg / "memory"), None, c.MS_BIND | c.MS_REC, None),
        ("mount", None, str(cg / "memory"), None,
         c.MS_BIND | c.MS_REMOUNT | c.MS_NOSUID | c.MS_RDONLY, None),
        ("mount", None, str(cg), None, c.MS_REMOUNT | c.MS_NOSUID | c.MS_RDONLY, "mode=755"),
    ]


def test_bind_over_proc_with_type_proc_is_refused(sys: Syscalls, bundle: Path, root_fd: int,
                                                  scratch: Path) -> None:
    fake = scratch / "fakeproc"
    fake.mkdir()
    with pytest.raises(ConfigError, match=r"^mounts\[0\]"):
        rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                           Mount("/proc", "proc", str(fake), ("rbind",)))
    assert sys.named("mount") == []


def test_mount_under_proc_through_a_symlink_is_refused(
    sys: Syscalls, bundle: Path, root: Path, root_fd: int
) -> None:
    os.symlink("/proc", root / "p")
    with pytest.raises(ConfigError, match=r"^mounts\[0\]"):
        rootfs.mount_entry(sys, root_fd, ctx_for(make_config(bundle), bundle), 0,
                           Mount("/p/sys", "tmpfs", "tmpfs"))
    assert sys.named("mount") == []


# --- devices ------------------------------------------------------------------------------


def test_create_devices_in_user_namespace_binds_host_nodes(
    sys: Syscalls, root: Path, root_fd: int
) -> None:
    fuse = Device("c", "/dev/fuse", 10, 229, 0o666)
    tun = Device("c", "/dev/net/tun", 10, 200, 0o666)
    rootfs.create_devices(sys, root_fd, (fuse, tun), user_namespace=True)
    assert sys.named("mknod") == []
    expected = [d.path for d in rootfs.DEFAULT_DEVICES] + ["/dev/fuse", "/dev/net/tun"]
    assert sys.without("openat2") == [
        ("mount", path, str(root) + path, None, c.MS_BIND, None) for path in expected
    ]
    for path in expected:
        assert (root / path.lstrip("/")).is_file()  # bind targets


def test_create_devices_mknod(sys: Syscalls, root: Path, root_fd: int,
                              chowns: list[tuple[Any, ...]]) -> None:
    devices = (
        Device("c", "/dev/null", 1, 3, 0o600),  # replaces the default /dev/null
        Device("b", "/dev/sda", 8, 0, 0o660, 0, 6),
        Device("p", "/dev/fifo0", 0, 0, None, 1000, 1000),
        Device("u", "/dev/net/tun", 10, 200, 0o10666),  # only permission bits are kept
    )
    rootfs.create_devices(sys, root_fd, devices, user_namespace=False)
    dev = root / "dev"
    expected = [
        (f"{root}{d.path}", stat.S_IFCHR | 0o666, os.makedev(d.major, d.minor))
        for d in rootfs.DEFAULT_DEVICES if d.path != "/dev/null"
    ] + [
        (str(dev / "null"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
        (str(dev / "sda"), stat.S_IFBLK | 0o660, os.makedev(8, 0)),
        (str(dev / "fifo0"), stat.S_IFIFO | 0o666, os.makedev(0, 0)),
        (str(dev / "net/tun"), stat.S_IFCHR | 0o666, os.makedev(10, 200)),
    ]
    assert [call[1:] for call in sys.named("mknod")] == expected
    assert sys.without("openat2", "mknod") == []  # no binds
    assert (dev / "net").is_dir()
    assert chowns[-4:] == [
        (str(dev / "null"), 0, 0, False),
        (str(dev / "sda"), 0, 6, False),
        (str(dev / "fifo0"), 1000, 1000, False),
        (str(dev / "net/tun"), 0, 0, False),
    ]


def test_create_devices_replaces_a_planted_file(sys: Syscalls, root: Path, root_fd: int,
                                                chowns: list[tuple[Any, ...]]) -> None:
    (root / "dev/null").write_text("not a device")
    os.symlink("/proc/sys/kernel/core_pattern", root / "dev/zero")
    rootfs.create_devices(sys, root_fd, (), user_namespace=False)
    assert not (root / "dev/null").exists()
    assert not os.path.lexists(root / "dev/zero")
    assert str(root / "dev/null") in [call[1] for call in sys.named("mknod")]


def test_create_devices_refuses_a_directory(sys: Syscalls, root: Path, root_fd: int,
                                            chowns: list[tuple[Any, ...]]) -> None:
    (root / "dev/null").mkdir()
    with pytest.raises(ConfigError, match=r"^linux\.devices: /dev/null exists"):
        rootfs.create_devices(sys, root_fd, (), user_namespace=False)


def test_create_dev_symlinks(sys: Syscalls, root: Path, root_fd: int) -> None:
    (root / "dev/stdin").write_text("")  # replaced
    (root / "dev/fd").mkdir()  # a directory is left alone
    rootfs.create_dev_symlinks(sys, root_fd)
    dev = root / "dev"
    expected = [
        ("symlink", "/proc/self/fd/0", str(dev / "stdin")),
        ("symlink", "/proc/self/fd/1", str(dev / "stdout")),
        ("symlink", "/proc/self/fd/2", str(dev / "stderr")),
    ]
    if os.path.exists("/proc/kcore"):
        expected.append(("symlink", "/proc/kcore", str(dev / "core")))
    expected.append(("symlink", "pts/ptmx", str(dev / "ptmx")))
    assert sys.named("symlink") == expected
    assert not (dev / "stdin").exists()
    assert (dev / "fd").is_dir()


# --- prepare --------------------------------------------------------------------------


def test_prepare_whole_config(sys: Syscalls, bundle: Path, root: Path, scratch: Path,
                              chowns: list[tuple[Any, ...]]) -> None:
    (scratch / "vol").mkdir()
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/data", "type": "bind", "source": str(scratch / "vol"),
         "options": ["rbind", "ro", "rprivate"]},
    ]
    config = make_config(bundle, mounts)
    rootfs.prepare(sys, ctx_for(config, bundle))
    mount_calls = sys.named("mount")
    locked = rootfs._locked_flags(str(root / "data"))
    assert mount_calls == [
        ("mount", None, "/", None, c.MS_SLAVE | c.MS_REC, None),
        ("mount", str(root), str(root), None, c.MS_BIND | c.MS_REC, None),
        ("mount", "proc", str(root / "proc"), "proc", 0, None),
        ("mount", "tmpfs", str(root / "dev"), "tmpfs", c.MS_NOSUID | c.MS_STRICTATIME,
         "mode=755,size=65536k"),
        ("mount", "devpts", str(root / "dev/pts"), "devpts", c.MS_NOSUID | c.MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("mount", "sysfs", str(root / "sys"), "sysfs",
         c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | c.MS_RDONLY, None),
        ("mount", str(scratch / "vol"), str(root / "data"), None, c.MS_BIND | c.MS_REC, None),
        ("mount", None, str(root / "data"), None,
         c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | locked, None),
        ("mount", None, str(root / "data"), None, c.MS_PRIVATE | c.MS_REC, None),
    ]
    # then the default devices and the /dev symlinks, after every mount
    names = [call[0] for call in sys.calls if call[0] != "openat2"]
    last_mount = len(names) - 1 - names[::-1].index("mount")
    assert set(names[last_mount + 1:]) == {"mknod", "symlink"}
    assert len(sys.named("mknod")) == len(rootfs.DEFAULT_DEVICES)
    assert ("symlink", "pts/ptmx", str(root / "dev/ptmx")) in sys.calls


def test_prepare_with_rootfs_propagation(sys: Syscalls, bundle: Path, root: Path) -> None:
    config = make_config(bundle, rootfsPropagation="private")
    rootfs.prepare(sys, ctx_for(config, bundle, user_namespace=True))
    assert sys.named("mount")[:2] == [
        ("mount", None, "/", None, c.MS_PRIVATE | c.MS_REC, None),
        ("mount", str(root), str(root), None, c.MS_BIND | c.MS_REC, None),
    ]
    assert sys.named("mknod") == []


def test_prepare_with_dev_bind_makes_no_devices(sys: Syscalls, bundle: Path,
                                                root: Path) -> None:
    config = make_config(bundle, [{"destination": "/dev", "type": "bind", "source": "/dev",
                                   "options": ["rbind"]}])
    rootfs.prepare(sys, ctx_for(config, bundle))
    assert sys.named("mknod") == [] and sys.named("symlink") == []
    assert sys.named("mount")[-1] == ("mount", "/dev", str(root / "dev"), None,
                                      c.MS_BIND | c.MS_REC, None)


def test_prepare_stops_at_the_first_bad_mount(sys: Syscalls, bundle: Path) -> None:
    config = make_config(bundle, [
        {"destination": "/tmp", "type": "tmpfs"},
        {"destination": "/proc", "type": "tmpfs"},
        {"destination": "/run", "type": "tmpfs"},
    ])
    with pytest.raises(ConfigError, match=r"^mounts\[1\]: "):
        rootfs.prepare(sys, ctx_for(config, bundle))
    assert [call[2] for call in sys.named("mount")][2:] == [str(bundle / "rootfs/tmp")]


# --- pivot -----------------------------------------------------------------------------


@pytest.fixture
def no_chdir(sys: Syscalls, monkeypatch: pytest.MonkeyPatch) -> Syscalls:
    monkeypatch.setattr(os, "fchdir", lambda fd: sys.calls.append(("fchdir",
                                                                    _resolve(fd_path(fd)))))
    monkeypatch.setattr(os, "chdir", lambda path: sys.calls.append(("chdir", path)))
    return sys


def test_pivot(no_chdir: Syscalls, root: Path) -> None:
    rootfs.pivot(no_chdir, str(root))
    assert no_chdir.calls == [
        ("fchdir", str(root)),
        ("pivot_root", ".", "."),
        ("fchdir", "/"),
        ("mount", None, ".", None, c.MS_SLAVE | c.MS_REC, None),
        ("umount2", ".", c.MNT_DETACH),
        ("chdir", "/"),
    ]


def test_pivot_closes_its_fds(no_chdir: Syscalls, root: Path) -> None:
    before = set(os.listdir("/proc/self/fd"))
    rootfs.pivot(no_chdir, str(root))
    assert set(os.listdir("/proc/self/fd")) <= before


def test_no_pivot(no_chdir: Syscalls, root: Path) -> None:
    rootfs.pivot(no_chdir, str(root), no_pivot=True)
    assert no_chdir.calls == [
        ("chdir", str(root)),
        ("mount", str(root), "/", None, c.MS_MOVE, None),
        ("chroot", "."),
        ("chdir", "/"),
    ]


# --- finalize ---------------------------------------------------------------------------


@pytest.fixture
def dev_null_checks(monkeypatch: pytest.MonkeyPatch, sys: Syscalls) -> Syscalls:
    monkeypatch.setattr(rootfs, "verify_dev_null", lambda: sys.calls.append(("verify_dev_null",)))
    return sys


def test_finalize(dev_null_checks: Syscalls, bundle: Path) -> None:
    sys = dev_null_checks
    config = make_config(
        bundle,
        hostname="box", domainname="example.org", root_readonly=True,
        rootfsPropagation="rshared",
        sysctl={"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536"},
        readonlyPaths=["/proc/sys", "/proc/sysrq-trigger"],
        maskedPaths=["/proc/kcore", "/proc/acpi"],
    )
    rootfs.finalize(sys, config)
    ro = c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
    assert sys.calls == [
        ("mount", None, "/", None, c.MS_SHARED | c.MS_REC, None),
        ("sethostname", "box"),
        ("setdomainname", "example.org"),
        ("write_file", "/proc/sys/net/ipv4/ip_forward", "1"),
        ("write_file", "/proc/sys/kernel/shmmax", "65536"),
        ("mount", "/proc/sys", "/proc/sys", None, c.MS_BIND | c.MS_REC, None),
        ("mount", "/proc/sys", "/proc/sys", None, ro | rootfs._locked_flags("/proc/sys"), None),
        ("mount", "/proc/sysrq-trigger", "/proc/sysrq-trigger", None, c.MS_BIND | c.MS_REC,
         None),
        ("mount", "/proc/sysrq-trigger", "/proc/sysrq-trigger", None,
         ro | rootfs._locked_flags("/proc/sysrq-trigger"), None),
        ("verify_dev_null",),
        ("mount", "/dev/null", "/proc/kcore", None, c.MS_BIND, None),
        ("mount", "/dev/null", "/proc/acpi", None, c.MS_BIND, None),
        ("mount", None, "/", None,
         c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | rootfs._locked_flags("/"), None),
    ]


def test_finalize_minimal_does_nothing(dev_null_checks: Syscalls, bundle: Path) -> None:
    rootfs.finalize(dev_null_checks, make_config(bundle))
    assert dev_null_checks.calls == []


def test_finalize_sysctl_failure_names_the_key(bundle: Path) -> None:
    sys = Syscalls(fail={"write_file": PermissionError(errno.EACCES, "Permission denied")})
    config = make_config(bundle, sysctl={"net.ipv4.ip_forward": "1"})
    with pytest.raises(ConfigError) as info:
        rootfs.finalize(sys, config)
    assert str(info.value) == "linux.sysctl.net.ipv4.ip_forward: Permission denied"


def test_finalize_skips_missing_readonly_and_masked_paths(monkeypatch: pytest.MonkeyPatch,
                                                          bundle: Path) -> None:
    monkeypatch.setattr(rootfs, "verify_dev_null", lambda: None)
    sys = Syscalls(fail={"mount": FileNotFoundError(errno.ENOENT, "No such file")})
    config = make_config(bundle, readonlyPaths=["/proc/nope"], maskedPaths=["/proc/gone"])
    rootfs.finalize(sys, config)
    assert sys.calls == [
        ("mount", "/proc/nope", "/proc/nope", None, c.MS_BIND | c.MS_REC, None),
        ("mount", "/dev/null", "/proc/gone", None, c.MS_BIND, None),
    ]


def test_masking_a_directory_uses_a_readonly_tmpfs(monkeypatch: pytest.MonkeyPatch,
                                                   bundle: Path) -> None:
    monkeypatch.setattr(rootfs, "verify_dev_null", lambda: None)

    def not_a_dir(call: tuple[Any, ...]) -> OSError | None:
        if call[:2] == ("mount", "/dev/null"):
            return NotADirectoryError(errno.ENOTDIR, "Not a directory")
        return None

    sys = Syscalls(fail_when=not_a_dir)
    rootfs.finalize(sys, make_config(bundle, maskedPaths=["/proc/acpi"]))
    assert sys.calls == [
        ("mount", "/dev/null", "/proc/acpi", None, c.MS_BIND, None),
        ("mount", "tmpfs", "/proc/acpi", "tmpfs", c.MS_RDONLY, "nr_blocks=1,nr_inodes=1"),
    ]


def test_masked_path_failure_names_the_field(monkeypatch: pytest.MonkeyPatch,
                                             bundle: Path) -> None:
    monkeypatch.setattr(rootfs, "verify_dev_null", lambda: None)
    sys = Syscalls(fail={"mount": PermissionError(errno.EPERM, "Operation not permitted")})
    with pytest.raises(ConfigError, match=r"^linux\.maskedPaths: /proc/kcore: "):
        rootfs.finalize(sys, make_config(bundle, maskedPaths=["/proc/kcore"]))


def test_prepare_shared_makes_the_rootfs_parent_mount_private(sys: Syscalls, bundle: Path,
                                                              root: Path) -> None:
    config = make_config(bundle, rootfsPropagation="shared")
    rootfs.prepare(sys, ctx_for(config, bundle, user_namespace=True))
    assert sys.named("mount")[:3] == [
        ("mount", None, "/", None, c.MS_SHARED | c.MS_REC, None),
        # pivot_root refuses a shared new root
        ("mount", None, rootfs._mount_point_of(str(root)), None, c.MS_PRIVATE, None),
        ("mount", str(root), str(root), None, c.MS_BIND | c.MS_REC, None),
    ]


def test_mount_point_of() -> None:
    assert rootfs._mount_point_of("/") == "/"
    assert rootfs._mount_point_of("/proc/self") == "/proc"
    assert rootfs._mount_point_of("/proc") == "/proc"

"""The container's filesystem: mounts, /dev, pivot_root, then masked and read-only paths.

`prepare` runs in the container's new mount namespace before pivot_root, `pivot`
switches the root, and `finalize` runs after it. All privileged calls go through
`Syscalls`, so the plan is unit tested with the recording fake on a temp tree.
"""

from __future__ import annotations

import os
import stat

from .config import Config, Device, Mount
from .errors import ConfigError
from .linux import constants as c
from .linux.syscalls import Syscalls
from .mountopts import parse_options, propagation_flags
from .records import factory, record
from .saferoot import ensure_file, fd_path, is_symlink, mkdir_all, open_in_root

# Always present in a container (runtime-spec config-linux.md "Default Devices").
DEFAULT_DEVICES = (
    Device("c", "/dev/null", 1, 3, 0o666, 0, 0),
    Device("c", "/dev/zero", 1, 5, 0o666, 0, 0),
    Device("c", "/dev/full", 1, 7, 0o666, 0, 0),
    Device("c", "/dev/random", 1, 8, 0o666, 0, 0),
    Device("c", "/dev/urandom", 1, 9, 0o666, 0, 0),
    Device("c", "/dev/tty", 5, 0, 0o666, 0, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
# Files lxcfs serves over /proc; the only mounts allowed below /proc (as runc).
PROC_MOUNT_ALLOWED = frozenset(
    f"/proc/{name}"
    for name in ("cpuinfo", "diskstats", "meminfo", "stat", "swaps", "uptime", "loadavg",
                 "slabinfo", "sys/kernel/ns_last_pid")
)
_DEVICE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


@record
class RootfsContext:
    config: Config
    bundle: str
    # cgroup hierarchies to show under a `cgroup` mount: name -> host directory
    # ("" names the cgroup2 hierarchy).
    cgroup_dirs: dict[str, str] = factory(dict)
    cgroup2_only: bool = False
    user_namespace: bool = False


def _mount_error(index: int, mount: Mount, err: OSError) -> ConfigError:
    return ConfigError(f"mounts[{index}]", f"{mount.destination}: {err.strerror or err}")


def check_proc_mount(index: int, mount: Mount) -> None:
    """Refuse anything but a real procfs on /proc, and (almost) anything under it:
    a fake /proc would swallow the runtime's own writes to it (CVE-2019-16884)."""
    dest = mount.destination
    is_bind = parse_options(mount.options).is_bind
    if dest == "/proc" and (mount.type != "proc" or
                            (is_bind and os.path.realpath(mount.source) != "/proc")):
        raise ConfigError(f"mounts[{index}]", f"only a proc filesystem may be mounted on {dest}")
    if dest.startswith("/proc/") and dest not in PROC_MOUNT_ALLOWED:
        raise ConfigError(f"mounts[{index}]", f"mounting over {dest} is not allowed")


def prepare(sys: Syscalls, ctx: RootfsContext) -> None:
    """Everything before pivot_root, in the container's mount namespace."""
    config = ctx.config
    rootfs = config.root_path
    # Stop our mounts propagating to the host while still seeing the host's
    # unmounts (rslave, as runc); a configured propagation replaces it.
    root_propagation = c.MS_SLAVE | c.MS_REC
    if config.linux.rootfs_propagation:
        root_propagation = propagation_flags(config.linux.rootfs_propagation) | c.MS_REC
    sys.mount(None, "/", None, root_propagation, None)
    if root_propagation & c.MS_SHARED:
        # pivot_root refuses a shared new root: make the mount the rootfs sits on
        # private, so that the bind below is private too (the configured propagation
        # is applied to / again after the pivot).
        sys.mount(None, _mount_point_of(rootfs), None, c.MS_PRIVATE, None)
    # pivot_root needs the new root to be a mount point.
    sys.mount(rootfs, rootfs, None, c.MS_BIND | c.MS_REC, None)
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, mount in enumerate(config.mounts):
            mount_entry(sys, root_fd, ctx, index, mount)
        if not _dev_is_bind_mounted(config):
            create_devices(sys, root_fd, config.linux.devices, ctx.user_namespace)
            create_dev_symlinks(sys, root_fd)
    finally:
        os.close(root_fd)


def _mount_point_of(path: str) -> str:
    """The mount point under which `path` lives (longest matching mountinfo entry)."""
    best = "/"
    with open("/proc/self/mountinfo") as file:
        for line in file:
            point = line.split()[4].replace("\\040", " ")
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                best = point
    return best


def _dev_is_bind_mounted(config: Config) -> bool:
    return any(
        m.destination == "/dev" and parse_options(m.options).is_bind for m in config.mounts
    )


def resolved_destination(sys: Syscalls, root_fd: int, rootfs: str, destination: str) -> str:
    """Where `destination` really is inside the root, its symlinks followed (within the
    root): the longest existing prefix resolved by the kernel, plus the rest."""
    parts = [part for part in destination.split("/") if part]
    for cut in range(len(parts), 0, -1):
        try:
            fd = open_in_root(sys, root_fd, "/".join(parts[:cut]))
        except OSError:
            continue
        try:
            real = os.readlink(fd_path(fd))
        finally:
            os.close(fd)
        inside = real[len(rootfs.rstrip("/")):] if real.startswith(rootfs.rstrip("/")) else real
        return os.path.normpath("/" + "/".join([inside.strip("/"), *parts[cut:]]))
    return destination


def mount_entry(sys: Syscalls, root_fd: int, ctx: RootfsContext, index: int, mount: Mount) -> None:
    check_proc_mount(index, mount)
    # Check again where the destination resolves: a symlink /p -> /proc in the image
    # must not let a mount at /p/sys through.
    real = resolved_destination(sys, root_fd, ctx.config.root_path, mount.destination)
    if real != mount.destination:
        check_proc_mount(index, Mount(real, mount.type, mount.source, mount.options))
    if mount.destination in ("/proc", "/sys") and is_symlink(root_fd, mount.destination):
        raise ConfigError(f"mounts[{index}]", f"{mount.destination} is a symlink in the rootfs")
    options = parse_options(mount.options)
    try:
        if options.is_bind:
            _bind_mount(sys, root_fd, ctx, index, mount)
        elif mount.type == "cgroup":
            _cgroup_mount(sys, root_fd, ctx, mount)
        else:
            target = mkdir_all(sys, root_fd, mount.destination)
            try:
                flags = options.flags & ~(c.MS_BIND | c.MS_REC | c.MS_REMOUNT)
                sys.mount(mount.source or mount.type, fd_path(target), mount.type, flags,
                          options.data or None)
            finally:
                os.close(target)
        _apply_propagation_and_attrs(sys, root_fd, mount)
    except ConfigError:
        raise
    except OSError as err:
        raise _mount_error(index, mount, err) from None


def _bind_mount(sys: Syscalls, root_fd: int, ctx: RootfsContext, index: int, mount: Mount) -> None:
    options = parse_options(mount.options)
    source = mount.source if os.path.isabs(mount.source) else os.path.join(ctx.bundle, mount.source)
    try:
        source_is_dir = stat.S_ISDIR(os.stat(source).st_mode)
    except OSError:
        raise ConfigError(f"mounts[{index}].source", f"{source} does not exist") from None
    if source_is_dir:
        target = mkdir_all(sys, root_fd, mount.destination)
    else:
        target = ensure_file(sys, root_fd, mount.destination)
    try:
        sys.mount(source, fd_path(target), None, options.flags & (c.MS_BIND | c.MS_REC), None)
    finally:
        os.close(target)
    # A bind ignores every other flag: they need a second, remounting call, made on
    # the new mount (reopened: the old fd still names the directory underneath).
    extra = options.flags & ~(c.MS_BIND | c.MS_REC | c.MS_REMOUNT)
    if extra:
        mounted = open_in_root(sys, root_fd, mount.destination)
        try:
            remount_flags = c.MS_BIND | c.MS_REMOUNT | extra | _locked_flags(fd_path(mounted))
            sys.mount(None, fd_path(mounted), None, remount_flags, None)
        finally:
            os.close(mounted)


def _cgroup_mount(sys: Syscalls, root_fd: int, ctx: RootfsContext, mount: Mount) -> None:
    """Show the container its own cgroups: cgroup2 directly on a v2-only host; on v1 and
    hybrid hosts a tmpfs with each hierarchy's container directory bound in (as runc)."""
    options = parse_options(mount.options)
    flags = options.flags & ~(c.MS_BIND | c.MS_REC | c.MS_REMOUNT)
    target = mkdir_all(sys, root_fd, mount.destination)
    try:
        if ctx.cgroup2_only:
            sys.mount("cgroup2", fd_path(target), "cgroup2", flags, None)
            return
        sys.mount("tmpfs", fd_path(target), "tmpfs", flags & ~c.MS_RDONLY, "mode=755")
    finally:
        os.close(target)
    for name, host_dir in sorted(ctx.cgroup_dirs.items()):
        subdir = f"{mount.destination}/{name.removeprefix('name=') or 'unified'}"
        sub_fd = mkdir_all(sys, root_fd, subdir)
        try:
            sys.mount(host_dir, fd_path(sub_fd), None, c.MS_BIND | c.MS_REC, None)
        finally:
            os.close(sub_fd)
        mounted = open_in_root(sys, root_fd, subdir)
        try:
            sys.mount(None, fd_path(mounted), None, c.MS_BIND | c.MS_REMOUNT | flags, None)
        finally:
            os.close(mounted)
    if flags & c.MS_RDONLY:
        mounted = open_in_root(sys, root_fd, mount.destination)
        try:
            sys.mount(None, fd_path(mounted), None, c.MS_REMOUNT | flags, "mode=755")
        finally:
            os.close(mounted)


def _apply_propagation_and_attrs(sys: Syscalls, root_fd: int, mount: Mount) -> None:
    options = parse_options(mount.options)
    if not options.propagation and not options.recursive_attrs:
        return
    mounted = open_in_root(sys, root_fd, mount.destination)
    try:
        for flag in options.propagation:
            sys.mount(None, fd_path(mounted), None, flag, None)
        if options.recursive_attrs:
            sys.mount_setattr(mounted, options.attr_set, options.attr_clear, recursive=True)
    finally:
        os.close(mounted)


def _locked_flags(path: str) -> int:
    """Flags a bind remount must keep: the kernel refuses to clear locked ones."""
    try:
        st_flags = os.statvfs(path).f_flag
    except OSError:
        return 0
    flags = 0
    for st_bit, ms_bit in ((os.ST_NOSUID, c.MS_NOSUID), (os.ST_NODEV, c.MS_NODEV),
                           (os.ST_NOEXEC, c.MS_NOEXEC), (os.ST_NOATIME, c.MS_NOATIME),
                           (os.ST_NODIRATIME, c.MS_NODIRATIME),
                           (os.ST_RELATIME, c.MS_RELATIME), (os.ST_RDONLY, c.MS_RDONLY)):
        if st_flags & st_bit:
            flags |= ms_bit
    return flags


def create_devices(
    sys: Syscalls, root_fd: int, devices: tuple[Device, ...], user_namespace: bool
) -> None:
    configured = {device.path for device in devices}
    wanted = [d for d in DEFAULT_DEVICES if d.path not in configured] + list(devices)
    for device in wanted:
        parent, name = os.path.split(device.path)
        parent_fd = mkdir_all(sys, root_fd, parent)
        try:
            if user_namespace:
                # mknod is not allowed in a user namespace: bind the host's node.
                os.close(ensure_file(sys, root_fd, device.path))
                target = open_in_root(sys, root_fd, device.path)
                try:
                    sys.mount(device.path, fd_path(target), None, c.MS_BIND, None)
                finally:
                    os.close(target)
                continue
            _replace_with_node(sys, parent_fd, name, device)
        finally:
            os.close(parent_fd)


def _replace_with_node(sys: Syscalls, parent_fd: int, name: str, device: Device) -> None:
    mode = (device.file_mode if device.file_mode is not None else 0o666) & 0o7777
    kind = _DEVICE_TYPES[device.type]
    try:
        existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if stat.S_IFMT(existing.st_mode) == kind and existing.st_rdev == os.makedev(
            device.major, device.minor
        ):
            return
        if stat.S_ISDIR(existing.st_mode):
            raise ConfigError("linux.devices", f"{device.path} exists and is a directory")
        os.unlink(name, dir_fd=parent_fd)
    sys.mknod(name, kind | mode, os.makedev(device.major, device.minor), dir_fd=parent_fd)
    os.chown(name, device.uid or 0, device.gid or 0, dir_fd=parent_fd, follow_symlinks=False)


def create_dev_symlinks(sys: Syscalls, root_fd: int) -> None:
    dev_fd = mkdir_all(sys, root_fd, "/dev")
    try:
        links = list(DEV_SYMLINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        links.append(("pts/ptmx", "/dev/ptmx"))
        for target, link in links:
            name = os.path.basename(link)
            try:
                os.unlink(name, dir_fd=dev_fd)
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                continue
            sys.symlink(target, name, dir_fd=dev_fd)
    finally:
        os.close(dev_fd)


def pivot(sys: Syscalls, rootfs: str, no_pivot: bool = False) -> None:
    if no_pivot:
        # For roots on a ramdisk, where pivot_root is not allowed.
        os.chdir(rootfs)
        sys.mount(rootfs, "/", None, c.MS_MOVE, None)
        sys.chroot(".")
        os.chdir("/")
        return
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        # pivot_root(".", ".") stacks the old root on top of the new one, so no
        # put_old directory is needed inside the container's filesystem.
        os.fchdir(new_root)
        sys.pivot_root(".", ".")
        os.fchdir(old_root)
        # Make the old root a slave first, or unmounting it would propagate the
        # unmount to the host's mounts.
        sys.mount(None, ".", None, c.MS_SLAVE | c.MS_REC, None)
        sys.umount2(".", c.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old_root)
        os.close(new_root)


def finalize(sys: Syscalls, config: Config) -> None:
    """After pivot_root: hostname, sysctls, then read-only and masked paths, then `/` ro.

    Sysctls come before readonlyPaths, which usually includes /proc/sys.
    """
    if config.linux.rootfs_propagation:
        sys.mount(None, "/", None, propagation_flags(config.linux.rootfs_propagation), None)
    if config.hostname:
        sys.sethostname(config.hostname)
    if config.domainname:
        sys.setdomainname(config.domainname)
    for key, value in config.linux.sysctl.items():
        try:
            sys.write_file("/proc/sys/" + key.replace(".", "/"), value)
        except OSError as err:
            raise ConfigError(f"linux.sysctl.{key}", err.strerror or str(err)) from None
    for path in config.linux.readonly_paths:
        make_readonly(sys, path)
    if config.linux.masked_paths:
        verify_dev_null()
    for path in config.linux.masked_paths:
        mask_path(sys, path)
    if config.root_readonly:
        sys.mount(None, "/", None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | _locked_flags("/"),
                  None)


def verify_dev_null() -> None:
    """Masking binds /dev/null: make sure it is the real device and not a symlink to,
    say, /proc/sys/kernel/core_pattern planted by the image (CVE-2025-31133)."""
    st = os.stat("/dev/null", follow_symlinks=False)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        raise ConfigError("linux.maskedPaths", "/dev/null is not the null device")


def make_readonly(sys: Syscalls, path: str) -> None:
    try:
        sys.mount(path, path, None, c.MS_BIND | c.MS_REC, None)
    except FileNotFoundError:
        return
    except OSError as err:
        raise ConfigError("linux.readonlyPaths", f"{path}: {err.strerror}") from None
    flags = c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
    sys.mount(path, path, None, flags | _locked_flags(path), None)


def mask_path(sys: Syscalls, path: str) -> None:
    try:
        sys.mount("/dev/null", path, None, c.MS_BIND, None)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        pass
    except OSError as err:
        # Binding a file onto a directory fails with ENOTDIR: mask it with an empty
        # read-only tmpfs instead.
        if err.errno != 20:
            raise ConfigError("linux.maskedPaths", f"{path}: {err.strerror}") from None
    else:
        return
    sys.mount("tmpfs", path, "tmpfs", c.MS_RDONLY, "nr_blocks=1,nr_inodes=1")


# Device cgroup rules every container gets after its own (runc's AllowedDevices):
# mknod of anything, and the default nodes, ptys, /dev/ptmx and /dev/net/tun usable.
ALWAYS_ALLOWED_DEVICES: tuple[dict[str, object], ...] = (
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    *({"allow": True, "type": "c", "major": d.major, "minor": d.minor, "access": "rwm"}
      for d in DEFAULT_DEVICES),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
)


def effective_resources(config: Config) -> dict[str, object]:
    """linux.resources with the device rules the runtime adds: the defaults above and
    every node of linux.devices, after the config's own (later rules win)."""
    resources = dict(config.linux.resources)
    if "devices" not in resources and not config.linux.devices:
        return resources
    rules = list(resources.get("devices") or [])
    rules.extend(ALWAYS_ALLOWED_DEVICES)
    for device in config.linux.devices:
        if device.type in ("c", "b"):
            rules.append({"allow": True, "type": device.type, "major": device.major,
                          "minor": device.minor, "access": "rwm"})
    resources["devices"] = rules
    return resources

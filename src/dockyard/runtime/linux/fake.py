"""A recording stand-in for LinuxSyscalls, for unit tests without root."""

from __future__ import annotations

from typing import Any

from .syscalls import LinuxSyscalls


class RecordingSyscalls:
    """Records every call as a tuple (name, *args); never touches the system.

    `fail` maps a call name to an OSError to raise, to test error paths.
    """

    def __init__(self, fail: dict[str, OSError] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail or {}
        self._real = LinuxSyscalls()

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == name]

    def mount(self, source, target, fstype, flags, data) -> None:  # type: ignore[no-untyped-def]
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._record("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._record("setns", fd, nstype)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        self._record("prctl", option, arg2, arg3)
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", effective, permitted, inheritable)

    def mknod(self, path: str, mode: int, device: int, dir_fd: int | None = None) -> None:
        self._record("mknod", path, mode, device)

    def symlink(self, target: str, path: str, dir_fd: int | None = None) -> None:
        self._record("symlink", target, path)

    def chroot(self, path: str) -> None:
        self._record("chroot", path)

    def write_file(self, path: str, data: str) -> None:
        self._record("write_file", path, data)

    def join_session_keyring(self, name: str | None) -> None:
        self._record("join_session_keyring", name)

    def openat2(self, dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
        # openat2 needs no privilege: resolve for real, so that path logic runs on a
        # temporary directory tree in tests.
        self._record("openat2", dir_fd, path, flags, resolve)
        return self._real.openat2(dir_fd, path, flags, resolve, mode)

    def mount_setattr(self, fd: int, attr_set: int, attr_clear: int, recursive: bool) -> None:
        self._record("mount_setattr", attr_set, attr_clear, recursive)

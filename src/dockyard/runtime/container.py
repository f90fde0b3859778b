"""Operations on an existing container, one function each, as the runc commands:
start, state, kill, delete, pause, resume, ps, update, exec, list."""

from __future__ import annotations

import json
import os
import select
import signal

from .config import Process, parse_config
from .errors import ContainerInitError, ContainerNotFound, InvalidState, OCIError
from .hooks import run_hooks
from .state import (
    ContainerState,
    StateDir,
    Status,
    derive_status,
    list_ids,
    oci_state,
    process_start_time,
    require,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .cgroups.manager import CgroupManager
    from .config import Hook


class Container:
    """A container known to the state root, loaded from its state.json."""

    def __init__(self, root: str, container_id: str) -> None:
        self.dir = StateDir(root, container_id)
        if not self.dir.exists():
            raise ContainerNotFound(container_id)
        self.state: ContainerState = self.dir.load()
        self._cgroups: CgroupManager | None = None

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def cgroups(self) -> CgroupManager:
        if self._cgroups is None:
            from .cgroups.manager import CgroupManager

            self._cgroups = CgroupManager.from_paths(self.state.cgroup_paths)
        return self._cgroups

    def status(self) -> Status:
        frozen = False
        if process_start_time(self.state.pid) == self.state.pid_start:
            try:
                frozen = self.cgroups.is_frozen()
            except OSError:
                frozen = False
        return derive_status(self.state, self.dir, frozen)

    def oci_state(self) -> dict[str, Any]:
        return oci_state(self.state, self.status())

    def _hooks_state(self, status: Status) -> bytes:
        return json.dumps(oci_state(self.state, status)).encode()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        require("start", self.id, self.status())
        try:
            fifo = os.open(self.dir.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise InvalidState(f"container {self.id!r} has already been started") from None
        try:
            # The init writes its byte once its startContainer hooks are done.
            if not self._wait_fifo(fifo) or not os.read(fifo, 1):
                raise ContainerInitError(f"container {self.id!r} init exited before start")
        finally:
            os.close(fifo)
        # Removing the fifo is what marks the container running.
        os.unlink(self.dir.fifo)
        config = parse_config(self.state.config, self.state.bundle)
        try:
            run_hooks("poststart", config.hooks.get("poststart", ()),
                      self._hooks_state(Status.RUNNING))
        except OCIError:
            # The spec: a failing poststart hook stops the container.
            self.kill(signal.SIGKILL, all_processes=True)
            raise

    def _wait_fifo(self, fifo: int) -> bool:
        """Wait until the init has opened the fifo for writing, or has died."""
        pidfd = os.pidfd_open(self.state.pid)
        try:
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            ready = poller.poll()
            # The fifo wins if both are ready: the init opened it, then exited.
            return any(fd == fifo for fd, _ in ready)
        finally:
            os.close(pidfd)

    def kill(self, sig: int, all_processes: bool = False) -> None:
        require("kill", self.id, self.status())
        if all_processes:
            self.cgroups.kill_all(sig)
            return
        pidfd = self._pidfd()
        try:
            signal.pidfd_send_signal(pidfd, sig)
        finally:
            os.close(pidfd)

    def _pidfd(self) -> int:
        """A pidfd for the init, checked against its start time (pid reuse)."""
        pidfd = os.pidfd_open(self.state.pid)
        if process_start_time(self.state.pid) != self.state.pid_start:
            os.close(pidfd)
            raise InvalidState(f"container {self.id!r} is not running")
        return pidfd

    def delete(self, force: bool = False) -> None:
        status = self.status()
        if status == Status.CREATED:
            force = True  # as runc: a created container never ran, delete kills it
        if status != Status.STOPPED:
            if not force:
                require("delete", self.id, status)
            self._kill_and_wait()
        self.cgroups.destroy()
        config_hooks = self._poststop_hooks()
        self.dir.remove()
        if config_hooks:
            try:
                run_hooks("poststop", config_hooks, self._hooks_state(Status.STOPPED))
            except OCIError as err:
                # The spec: poststop failures are only warnings.
                import logging

                logging.getLogger(__name__).warning("%s", err)

    def _poststop_hooks(self) -> tuple[Hook, ...]:
        try:
            return parse_config(self.state.config, self.state.bundle).hooks.get("poststop", ())
        except OCIError:
            return ()

    def _kill_and_wait(self) -> None:
        try:
            pidfd = self._pidfd()
        except (InvalidState, ProcessLookupError):
            pidfd = None
        try:
            self.cgroups.kill_all(signal.SIGKILL)
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(10_000)
        except ProcessLookupError:
            pass
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def pause(self) -> None:
        require("pause", self.id, self.status())
        self.cgroups.freeze()

    def resume(self) -> None:
        require("resume", self.id, self.status())
        self.cgroups.thaw()

    def pids(self) -> list[int]:
        require("ps", self.id, self.status())
        return self.cgroups.pids()

    def update(self, resources: dict[str, Any]) -> None:
        require("update", self.id, self.status())
        self.cgroups.apply(resources)
        linux = self.state.config.setdefault("linux", {})
        merged = linux.setdefault("resources", {})
        for key, value in resources.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged[key] = value
        self.dir.save(self.state)

    def exec(self, process: Process, console_socket: str | None = None,
             preserve_fds: int = 0) -> int:
        """Start `process` in the container; returns its host pid."""
        require("exec", self.id, self.status())
        from .execproc import ExecOptions, spawn

        config = parse_config(self.state.config, self.state.bundle)
        seccomp: tuple[Any, Any] = (None, None)
        if config.linux.seccomp is not None:
            from .launch import seccomp_for

            seccomp = seccomp_for(config.linux.seccomp, self.dir.root)
        return spawn(self.state, process, ExecOptions(console_socket, preserve_fds),
                     self.cgroups, seccomp)


def list_containers(root: str) -> list[Container]:
    containers = []
    for container_id in list_ids(root):
        try:
            containers.append(Container(root, container_id))
        except ContainerNotFound:
            continue  # deleted meanwhile
    return containers

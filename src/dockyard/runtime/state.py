"""A container's lifecycle and its state directory.

Theory of operation: `create` makes `<root>/<id>/` exclusively (so an id is taken
once) with `state.json` and the `exec.fifo` that holds the init back. `start`
opens the fifo, which lets the init exec the user program, and removes it. The
status is never stored, it is derived each time, as runc does:

    init pid gone, a zombie, or a different process (start time) -> stopped
    cgroup frozen                                                -> paused
    exec.fifo present                                            -> created
    otherwise                                                    -> running

Which operation each status allows is the table below; anything else is an
InvalidState error that names the status.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import ContainerExists, ContainerNotFound, InvalidState
from .records import as_dict, factory, record


class Status(str):
    """A container status; compare with the constants below (plain strings: the enum
    module would add to every CLI start)."""

    @property
    def value(self) -> str:
        return str(self)


Status.CREATING = Status("creating")  # type: ignore[attr-defined]
Status.CREATED = Status("created")  # type: ignore[attr-defined]
Status.RUNNING = Status("running")  # type: ignore[attr-defined]
Status.PAUSED = Status("paused")  # type: ignore[attr-defined]
Status.STOPPED = Status("stopped")  # type: ignore[attr-defined]


ALLOWED: dict[str, frozenset[Status]] = {
    "start": frozenset({Status.CREATED}),
    "kill": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
    "exec": frozenset({Status.CREATED, Status.RUNNING}),
    "pause": frozenset({Status.CREATED, Status.RUNNING}),
    "resume": frozenset({Status.PAUSED}),
    "delete": frozenset({Status.STOPPED}),
    "update": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
    "ps": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
}


def require(operation: str, container_id: str, status: Status) -> None:
    if status not in ALLOWED[operation]:
        raise InvalidState(
            f"cannot {operation} container {container_id!r} in status {status.value}"
        )


_ID_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-."
)


def check_id(container_id: str) -> None:
    # The id becomes a directory name: no separators, no "." or "..".
    if (not container_id or not _ID_CHARACTERS.issuperset(container_id)
            or container_id in (".", "..") or len(container_id) > 1024):
        raise InvalidState(f"invalid container id {container_id!r}")


@record(frozen=False)
class ContainerState:
    id: str
    bundle: str
    rootfs: str
    pid: int
    pid_start: int  # field 22 of /proc/<pid>/stat, to detect pid reuse
    created: str  # RFC 3339
    owner: str = ""
    annotations: dict[str, str] = factory(dict)
    cgroup_paths: dict[str, str] = factory(dict)
    namespace_paths: dict[str, str] = factory(dict)
    config: dict[str, Any] = factory(dict)
    exit_status: int | None = None


class StateDir:
    """`<root>/<id>/`: state.json, exec.fifo. Writes are atomic (tmp, fsync, rename)."""

    def __init__(self, root: str, container_id: str) -> None:
        check_id(container_id)
        self.root = root
        self.id = container_id
        self.path = os.path.join(root, container_id)

    @property
    def fifo(self) -> str:
        return os.path.join(self.path, "exec.fifo")

    @property
    def state_file(self) -> str:
        return os.path.join(self.path, "state.json")

    def claim(self) -> None:
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(self.path, 0o711)
        except FileExistsError:
            raise ContainerExists(self.id) from None
        os.mkfifo(self.fifo, 0o622)
        # The init opens it for writing after switching to the container's user.
        os.chmod(self.fifo, 0o622)

    def exists(self) -> bool:
        return os.path.isfile(self.state_file)

    def save(self, state: ContainerState) -> None:
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as file:
            # json.dumps runs in C; json.dump writes chunk by chunk from Python (~3 ms)
            file.write(json.dumps(as_dict(state)))
            file.flush()
            os.fsync(file.fileno())
        os.rename(tmp, self.state_file)

    def load(self) -> ContainerState:
        try:
            with open(self.state_file) as file:
                data = json.load(file)
        except FileNotFoundError:
            raise ContainerNotFound(self.id) from None
        return ContainerState(**data)

    def remove(self) -> None:
        # The directory holds a few plain files only; shutil would cost an import
        # (with bz2 and lzma) on every delete.
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, "state.json")))


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks, or None if there is no such live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may contain spaces and parentheses: split after the last ")".
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def derive_status(state: ContainerState, state_dir: StateDir, frozen: bool) -> Status:
    if state.pid <= 0 or process_start_time(state.pid) != state.pid_start:
        return Status.STOPPED
    if frozen:
        return Status.PAUSED
    if os.path.exists(state_dir.fifo):
        return Status.CREATED
    return Status.RUNNING


def oci_state(state: ContainerState, status: Status) -> dict[str, Any]:
    """The state document of the OCI spec, with runc's extra fields."""
    return {
        "ociVersion": state.config.get("ociVersion", "1.2.0"),
        "id": state.id,
        "pid": state.pid if status != Status.STOPPED else 0,
        "status": status.value,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": "",  # as runc's state; `list` shows the owner
        "annotations": state.annotations,
    }

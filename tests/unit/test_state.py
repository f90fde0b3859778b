"""The state directory and the lifecycle table (runtime/state.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from dockyard.runtime.errors import ContainerExists, ContainerNotFound, InvalidState
from dockyard.runtime.state import (
    ALLOWED,
    ContainerState,
    StateDir,
    Status,
    check_id,
    derive_status,
    list_ids,
    oci_state,
    process_start_time,
    require,
)

pytestmark = pytest.mark.unit


STATUSES = (Status.CREATING, Status.CREATED, Status.RUNNING, Status.PAUSED, Status.STOPPED)


def make_state(cid: str = "c1", pid: int | None = None, pid_start: int | None = None,
               **kw) -> ContainerState:  # type: ignore[no-untyped-def]
    pid = os.getpid() if pid is None else pid
    if pid_start is None:
        pid_start = process_start_time(pid) or 0
    return ContainerState(
        id=cid, bundle="/b", rootfs="/b/rootfs", pid=pid, pid_start=pid_start,
        created="2024-01-01T00:00:00Z", **kw,
    )


@pytest.fixture
def state_dir(scratch: Path) -> StateDir:
    sd = StateDir(str(scratch / "root"), "c1")
    sd.claim()
    return sd


# --- ids and the directory ---------------------------------------------------------------


def test_claim_creates_directory_and_fifo(scratch: Path) -> None:
    sd = StateDir(str(scratch / "root"), "c1")
    old_umask = os.umask(0o077)
    try:
        sd.claim()
    finally:
        os.umask(old_umask)
    assert os.path.isdir(sd.path)
    st = os.stat(sd.fifo)
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o622  # whatever the umask: a non-root init opens it
    assert not sd.exists()  # no state.json yet


def test_claim_twice_is_container_exists(scratch: Path) -> None:
    StateDir(str(scratch), "c1").claim()
    with pytest.raises(ContainerExists, match="'c1' already exists"):
        StateDir(str(scratch), "c1").claim()


@pytest.mark.parametrize(
    "bad", ["../x", "a/b", ".", "..", "", "/abs", "a b", "x\x00y", "a:b", "x" * 1025],
    ids=lambda value: repr(value)[:16],
)
def test_invalid_ids(scratch: Path, bad: str) -> None:
    with pytest.raises(InvalidState, match="invalid container id"):
        StateDir(str(scratch), bad)
    assert os.listdir(scratch) == []


@pytest.mark.parametrize("good", ["c1", "a.b", "a-b_c+d", "...", "x" * 1024, "A1"],
                         ids=lambda value: repr(value)[:16])
def test_valid_ids(good: str) -> None:
    check_id(good)


@pytest.mark.parametrize("bad", ["abc\n", "\nabc", "caf\u00e9", "\u0661"])
def test_id_with_newline_or_non_ascii_is_invalid(bad: str) -> None:
    with pytest.raises(InvalidState):
        check_id(bad)


def test_save_load_round_trip(state_dir: StateDir) -> None:
    state = make_state(annotations={"a": "b"}, cgroup_paths={"": "/sys/fs/cgroup/x"},
                       namespace_paths={"pid": "/proc/1/ns/pid"}, config={"ociVersion": "1.1.0"},
                       owner="root", exit_status=3)
    state_dir.save(state)
    assert state_dir.exists()
    assert state_dir.load() == state
    assert sorted(os.listdir(state_dir.path)) == ["exec.fifo", "state.json"]
    with open(state_dir.state_file) as file:
        assert json.load(file)["pid_start"] == state.pid_start


def test_save_replaces_atomically(state_dir: StateDir) -> None:
    state_dir.save(make_state())
    before = os.stat(state_dir.state_file).st_ino
    state_dir.save(make_state(exit_status=1))
    assert os.stat(state_dir.state_file).st_ino != before  # a new file renamed into place
    assert state_dir.load().exit_status == 1
    assert not any(name.endswith(".tmp") for name in os.listdir(state_dir.path))


def test_load_missing_is_not_found(scratch: Path) -> None:
    with pytest.raises(ContainerNotFound, match="'nope' does not exist"):
        StateDir(str(scratch), "nope").load()


def test_remove(state_dir: StateDir) -> None:
    state_dir.save(make_state())
    state_dir.remove()
    assert not os.path.exists(state_dir.path)
    state_dir.remove()  # idempotent


def test_list_ids(scratch: Path) -> None:
    root = str(scratch / "root")
    assert list_ids(root) == []
    for cid in ("b", "a", "claimed-only"):
        sd = StateDir(root, cid)
        sd.claim()
        if cid != "claimed-only":
            sd.save(make_state(cid))
    assert list_ids(root) == ["a", "b"]


# --- process start times and derived status -----------------------------------------------


def test_process_start_time_of_self() -> None:
    start = process_start_time(os.getpid())
    assert isinstance(start, int) and start > 0
    assert process_start_time(os.getpid()) == start


def test_process_start_time_of_missing_pid() -> None:
    assert process_start_time(2**31 - 2) is None
    assert process_start_time(0) is None


def test_process_start_time_of_zombie_is_none() -> None:
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while True:
            with open(f"/proc/{child.pid}/stat", "rb") as file:
                if file.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert process_start_time(child.pid) is None
    finally:
        child.wait()


def test_status_stopped_when_pid_not_alive(state_dir: StateDir) -> None:
    assert derive_status(make_state(pid=2**31 - 2, pid_start=1), state_dir, False) == \
        Status.STOPPED
    assert derive_status(make_state(pid=0, pid_start=0), state_dir, False) == Status.STOPPED


def test_status_stopped_when_start_time_differs(state_dir: StateDir) -> None:
    state = make_state()
    reused = make_state(pid_start=state.pid_start + 1)
    assert derive_status(reused, state_dir, frozen=True) == Status.STOPPED


def test_status_created_while_fifo_exists(state_dir: StateDir) -> None:
    assert derive_status(make_state(), state_dir, False) == Status.CREATED


def test_status_paused_when_frozen(state_dir: StateDir) -> None:
    assert derive_status(make_state(), state_dir, True) == Status.PAUSED
    os.unlink(state_dir.fifo)
    assert derive_status(make_state(), state_dir, True) == Status.PAUSED


def test_status_running(state_dir: StateDir) -> None:
    os.unlink(state_dir.fifo)
    assert derive_status(make_state(), state_dir, False) == Status.RUNNING


# --- the lifecycle table ---------------------------------------------------------------------


def test_table_covers_every_operation() -> None:
    assert set(ALLOWED) == {"start", "kill", "exec", "pause", "resume", "delete", "update", "ps"}
    assert ALLOWED["start"] == {Status.CREATED}
    assert ALLOWED["delete"] == {Status.STOPPED}
    assert ALLOWED["resume"] == {Status.PAUSED}


@pytest.mark.parametrize(
    ("operation", "status"),
    [(op, st) for op, allowed in sorted(ALLOWED.items()) for st in STATUSES if st not in allowed],
    ids=str,
)
def test_require_refuses(operation: str, status: Status) -> None:
    with pytest.raises(InvalidState) as info:
        require(operation, "c1", status)
    message = str(info.value)
    assert message == f"cannot {operation} container 'c1' in status {status.value}"


@pytest.mark.parametrize(
    ("operation", "status"),
    [(op, st) for op, allowed in sorted(ALLOWED.items()) for st in sorted(allowed)],
    ids=str,
)
def test_require_allows(operation: str, status: Status) -> None:
    require(operation, "c1", status)


# --- the OCI state document ----------------------------------------------------------------


def test_oci_state_fields() -> None:
    state = make_state(owner="root", annotations={"k": "v"}, config={"ociVersion": "1.0.2"})
    doc = oci_state(state, Status.RUNNING)
    assert doc == {
        "ociVersion": "1.0.2", "id": "c1", "pid": state.pid, "status": "running",
        "bundle": "/b", "rootfs": "/b/rootfs", "created": "2024-01-01T00:00:00Z",
        "owner": "", "annotations": {"k": "v"},
    }
    json.dumps(doc)


def test_oci_state_stopped_has_no_pid_and_default_version() -> None:
    doc = oci_state(make_state(), Status.STOPPED)
    assert doc["pid"] == 0
    assert doc["status"] == "stopped"
    assert doc["ociVersion"] == "1.2.0"

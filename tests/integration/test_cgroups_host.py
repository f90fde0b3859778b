"""The cgroup manager on this host's real cgroups (root only): limits, freeze, stats, destroy.

Every cgroup made here is named dockyard-test-<random> and removed by a finalizer, which also
undoes any controller it enabled in the cgroup2 root, even when the test fails.
"""

import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runtime.cgroups import CgroupError, CgroupManager, Mode, open_manager, read_layout

MiB = 1 << 20


def _unusable_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        layout = read_layout()
    except (OSError, CgroupError) as error:
        return f"no cgroups: {error}"
    for mount in layout.hierarchies().values():
        if not os.access(mount.mount_point, os.W_OK) or (
            os.statvfs(mount.mount_point).f_flag & os.ST_RDONLY
        ):
            return f"{mount.mount_point} is not writable"
    return None


_UNUSABLE = _unusable_reason()
pytestmark = [pytest.mark.root, pytest.mark.skipif(_UNUSABLE is not None, reason=str(_UNUSABLE))]


def _state(pid: int) -> str:
    """The State: line of /proc/<pid>/status, e.g. 'S (sleeping)'."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no State in /proc/{pid}/status")


def _remove_by_force(path: Path) -> None:
    """Last-resort cleanup: kill what is inside, rmdir deepest first."""
    if not path.is_dir():
        return
    for current, _, _ in os.walk(path, topdown=False):
        for pid in (Path(current) / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.rmdir(current)


@pytest.fixture
def cgroup() -> Iterator[CgroupManager]:
    name = f"dockyard-test-{secrets.token_hex(4)}"
    manager = open_manager(f"{name}/ctr", "ctr")
    unified_root = read_layout().unified
    subtree = Path(unified_root.mount_point) / "cgroup.subtree_control" if unified_root else None
    enabled_before = set(subtree.read_text().split()) if subtree else set()
    try:
        yield manager
    finally:
        try:
            manager.destroy()
        finally:
            for path in manager.paths().values():
                _remove_by_force(Path(path))
                _remove_by_force(Path(path).parent)
            if subtree is not None:
                for controller in set(subtree.read_text().split()) - enabled_before:
                    # refused (EBUSY) while another user's cgroup below still needs it
                    with contextlib.suppress(OSError):
                        subtree.write_text(f"-{controller}")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(["sleep", "1000"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _read(manager: CgroupManager, controller: str, v1_file: str, v2_file: str) -> str:
    paths = manager.paths()
    if controller in paths:
        return (Path(paths[controller]) / v1_file).read_text().strip()
    return (Path(paths[""]) / v2_file).read_text().strip()


def test_limits_freeze_stats_destroy(cgroup: CgroupManager, sleeper: subprocess.Popen) -> None:
    cgroup.create()
    cgroup.add_pid(sleeper.pid)
    assert cgroup.pids() == [sleeper.pid]
    own = Path(f"/proc/{sleeper.pid}/cgroup").read_text()
    assert "dockyard-test-" in own

    cgroup.apply(
        {
            "memory": {"limit": 32 * MiB},
            "pids": {"limit": 10},
            "cpu": {"quota": 50000, "period": 100000},
        }
    )
    assert _read(cgroup, "memory", "memory.limit_in_bytes", "memory.max") == str(32 * MiB)
    assert _read(cgroup, "pids", "pids.max", "pids.max") == "10"
    if "cpu" in cgroup.paths():
        assert _read(cgroup, "cpu", "cpu.cfs_quota_us", "") == "50000"
        assert _read(cgroup, "cpu", "cpu.cfs_period_us", "") == "100000"
    else:
        assert _read(cgroup, "cpu", "", "cpu.max") == "50000 100000"

    assert _state(sleeper.pid).startswith("S")
    cgroup.freeze()
    assert cgroup.is_frozen()
    if "freezer" in cgroup.paths():
        assert _state(sleeper.pid).startswith("D")  # v1 freezer: "D (disk sleep)"
    cgroup.thaw()
    assert not cgroup.is_frozen()
    assert _state(sleeper.pid).startswith("S")

    stats = cgroup.stats()
    assert stats["pids_stats"] == {"current": 1, "limit": 10}
    assert stats["memory_stats"]["limit"] == 32 * MiB
    assert isinstance(stats["cpu_stats"]["cpu_usage"]["total_usage"], int)
    assert not cgroup.oom_killed()

    cgroup.destroy()
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    assert not any(Path(path).exists() for path in cgroup.paths().values())
    cgroup.destroy()  # twice is fine


def test_a_manager_rebuilt_from_its_paths(cgroup: CgroupManager, sleeper: subprocess.Popen) -> None:
    cgroup.create()
    cgroup.add_pid(sleeper.pid)
    again = CgroupManager.from_paths(cgroup.paths())
    assert again.pids() == [sleeper.pid]
    again.apply({"pids": {"limit": 5}})
    assert _read(cgroup, "pids", "pids.max", "pids.max") == "5"


def test_destroy_of_a_paused_container(cgroup: CgroupManager, sleeper: subprocess.Popen) -> None:
    cgroup.create()
    cgroup.add_pid(sleeper.pid)
    cgroup.freeze()
    cgroup.destroy()
    assert sleeper.wait(timeout=5) == -signal.SIGKILL


def test_kill_all_with_a_signal(cgroup: CgroupManager) -> None:
    cgroup.create()
    processes = [subprocess.Popen(["sleep", "1000"]) for _ in range(2)]
    try:
        for process in processes:
            cgroup.add_pid(process.pid)
        cgroup.kill_all(signal.SIGTERM)
        assert [p.wait(timeout=5) for p in processes] == [-signal.SIGTERM] * 2
        assert not cgroup.is_frozen()
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_pids_limit_is_enforced(cgroup: CgroupManager) -> None:
    cgroup.create()
    cgroup.apply({"pids": {"limit": 1}})
    procs = Path(cgroup.paths().get("pids", cgroup.paths()[""])) / "cgroup.procs"
    # the shell is the one task allowed: once inside, it cannot fork /bin/true
    shell = subprocess.run(
        ["sh", "-c", f"echo $$ > {procs} && echo joined && /bin/true && echo forked"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "joined" in shell.stdout
    assert "forked" not in shell.stdout


def test_hugetlb_goes_where_the_host_has_it(cgroup: CgroupManager) -> None:
    layout = read_layout()
    if "hugetlb" not in layout.v1 and "hugetlb" not in layout.unified_controllers:
        pytest.skip("no hugetlb controller")
    if not Path("/sys/kernel/mm/hugepages/hugepages-2048kB").exists():
        pytest.skip("no 2MB huge pages")
    cgroup.create()
    cgroup.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 * MiB}]})
    value = _read(cgroup, "hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max")
    assert value == str(2 * MiB)
    if layout.mode == Mode.HYBRID and "hugetlb" not in layout.v1:
        assert "hugetlb" in (Path(cgroup.paths()[""]).parent / "cgroup.subtree_control").read_text()


def test_unavailable_controller_is_refused(cgroup: CgroupManager) -> None:
    if "net_cls" in read_layout().v1:
        pytest.skip("this host has net_cls")
    cgroup.create()
    with pytest.raises(CgroupError, match=r"^linux.resources.network.classID"):
        cgroup.apply({"network": {"classID": 1}})

"""The manager against a fake /sys/fs/cgroup in a tmp tree (no root, no real cgroups).

A tmp tree is not cgroupfs: mkdir creates no control files, so each test writes the files the
kernel would have created. No test here lists a pid in a fake cgroup.procs that could be real.
"""

import json
from pathlib import Path

import pytest

from dockyard.runtime.cgroups import CgroupError, CgroupManager, Mode, open_manager
from dockyard.runtime.cgroups import manager as manager_module

pytestmark = pytest.mark.unit

MiB = 1 << 20
V1_UNLIMITED = "9223372036854771712\n"
V1_DIRS = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd"]
HYBRID_MOUNTINFO = (
    "".join(
        f"{32 + i} 31 0:{29 + i} / /sys/fs/cgroup/{name} rw,relatime - cgroup cgroup "
        f"rw,{'name=systemd' if name == 'systemd' else name}\n"
        for i, name in enumerate(V1_DIRS)
    )
    + "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)
HYBRID_SELF = (
    "".join(
        f"{9 - i}:{'name=systemd' if name == 'systemd' else name}:"
        f"{'/caller' if name == 'memory' else '/'}\n"
        for i, name in enumerate(V1_DIRS)
    )
    + "0::/\n"
)
UNIFIED_MOUNTINFO = "27 21 0:24 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def files(directory: Path, **contents: str) -> Path:
    """Make ``directory`` with control files: memory__max='1' creates memory.max."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        (directory / name.replace("__", ".")).write_text(text)
    return directory


@pytest.fixture
def hybrid(tmp_path: Path) -> Path:
    """The test VM's layout: v1 controllers each alone, cgroup2 with only hugetlb."""
    for name in V1_DIRS:
        files(tmp_path / name, cgroup__procs="")
    files(tmp_path / "cpuset", cpuset__cpus="0-1\n", cpuset__mems="0\n")
    files(tmp_path / "memory" / "caller", cgroup__procs="")
    files(tmp_path / "unified", cgroup__controllers="hugetlb\n", cgroup__subtree_control="")
    return tmp_path


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every write the manager makes, in order (the fake files keep only the last one)."""
    seen: list[tuple[str, str]] = []
    real = manager_module.write_value

    def recording(path: Path, value: str) -> None:
        seen.append((str(path), value))
        real(path, value)

    monkeypatch.setattr(manager_module, "write_value", recording)
    return seen


def open_hybrid(root: Path, cgroups_path: str = "dockyard-test/c1") -> CgroupManager:
    return open_manager(
        cgroups_path, "c1", root=root, mountinfo=HYBRID_MOUNTINFO, self_cgroup=HYBRID_SELF
    )


def kernel_files(m: CgroupManager) -> dict[str, Path]:
    """The control files the kernel would create in the container's new cgroups."""
    p = {name: Path(path) for name, path in m.paths().items()}
    files(
        p["memory"],
        memory__limit_in_bytes=V1_UNLIMITED,
        memory__memsw__limit_in_bytes=V1_UNLIMITED,
        memory__soft_limit_in_bytes=V1_UNLIMITED,
        memory__usage_in_bytes="4096\n",
    )
    files(p["cpu"], cpu__shares="1024\n", cpu__cfs_quota_us="-1\n", cpu__cfs_period_us="100000\n")
    files(p["pids"], pids__max="max\n")
    files(p["blkio"], blkio__bfq__weight="100\n", blkio__throttle__read_bps_device="")
    files(p["devices"], devices__allow="", devices__deny="")
    files(p["freezer"], freezer__state="THAWED\n")
    files(p[""], hugetlb__2MB__max="max\n")
    for path in set(p.values()):
        files(path, cgroup__procs="")
    return p


def test_paths_on_a_fake_tree_and_the_round_trip(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    paths = m.paths()
    assert paths["memory"] == str(hybrid / "memory/caller/dockyard-test/c1")
    assert paths["cpu"] == str(hybrid / "cpu/dockyard-test/c1")
    assert paths["name=systemd"] == str(hybrid / "systemd/dockyard-test/c1")
    assert paths[""] == str(hybrid / "unified/dockyard-test/c1")
    assert m.mode == Mode.HYBRID
    # what the runtime keeps in state.json rebuilds the same manager
    again = CgroupManager.from_paths(json.loads(json.dumps(paths)))
    assert again.paths() == paths
    assert again.mode == Mode.HYBRID


def test_default_path_is_under_dockyard(hybrid: Path) -> None:
    m = open_manager("", "abc", root=hybrid, mountinfo=HYBRID_MOUNTINFO, self_cgroup=HYBRID_SELF)
    assert m.paths()["pids"] == str(hybrid / "pids/dockyard/abc")


def test_modes_from_paths() -> None:
    assert CgroupManager.from_paths({"memory": "/m"}).mode == Mode.LEGACY
    assert CgroupManager.from_paths({"": "/u"}).mode == Mode.UNIFIED
    with pytest.raises(CgroupError):
        CgroupManager.from_paths({})


def test_create_makes_every_directory(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    assert all(Path(path).is_dir() for path in m.paths().values())
    m.create()  # again: nothing to do


def test_create_copies_cpuset_from_each_parent(hybrid: Path) -> None:
    # what the kernel does with cgroup.clone_children=0: new cpusets start empty
    files(hybrid / "cpuset/dockyard-test", cpuset__cpus="\n", cpuset__mems="\n")
    files(hybrid / "cpuset/dockyard-test/c1", cpuset__cpus="\n", cpuset__mems="")
    open_hybrid(hybrid).create()
    for level in ("dockyard-test", "dockyard-test/c1"):
        assert (hybrid / "cpuset" / level / "cpuset.cpus").read_text() == "0-1"
        assert (hybrid / "cpuset" / level / "cpuset.mems").read_text() == "0"


def test_create_without_cpuset_files_still_makes_the_directory(hybrid: Path) -> None:
    (hybrid / "cpuset/cpuset.cpus").unlink()
    m = open_hybrid(hybrid)
    m.create()
    assert Path(m.paths()["cpuset"]).is_dir()


def test_create_keeps_a_cpuset_already_set(hybrid: Path) -> None:
    files(hybrid / "cpuset/dockyard-test", cpuset__cpus="1\n", cpuset__mems="0\n")
    open_hybrid(hybrid).create()
    assert (hybrid / "cpuset/dockyard-test/cpuset.cpus").read_text() == "1\n"


def test_add_pid_joins_every_hierarchy(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    p = kernel_files(m)
    m.add_pid(4242)
    for path in p.values():
        assert (path / "cgroup.procs").read_text() == "4242"


def test_apply_writes_the_plan(hybrid: Path, writes: list[tuple[str, str]]) -> None:
    m = open_hybrid(hybrid)
    m.create()
    files(
        hybrid / "unified/dockyard-test",
        cgroup__controllers="hugetlb\n",
        cgroup__subtree_control="",
    )
    p = kernel_files(m)
    warnings = m.apply(
        {
            "memory": {"limit": 32 * MiB, "swap": 64 * MiB},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
            "pids": {"limit": 10},
            "blockIO": {"weight": 300},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            ],
        }
    )
    assert warnings == []
    assert (p["memory"] / "memory.limit_in_bytes").read_text() == str(32 * MiB)
    assert (p["memory"] / "memory.memsw.limit_in_bytes").read_text() == str(64 * MiB)
    assert (p["cpu"] / "cpu.cfs_quota_us").read_text() == "50000"
    assert (p["cpu"] / "cpu.shares").read_text() == "512"
    assert (p["pids"] / "pids.max").read_text() == "10"
    # no blkio.weight here, as on the test VM: the BFQ file takes it
    assert (p["blkio"] / "blkio.bfq.weight").read_text() == "300"
    assert not (p["blkio"] / "blkio.weight").exists()
    assert (p[""] / "hugetlb.2MB.max").read_text() == "0"
    # hugetlb is only on cgroup2 here, so it was enabled on the way down
    assert (hybrid / "unified/cgroup.subtree_control").read_text() == "+hugetlb"
    assert (hybrid / "unified/dockyard-test/cgroup.subtree_control").read_text() == "+hugetlb"
    devices = [(Path(path).name, value) for path, value in writes if "devices." in path]
    assert devices == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
    ]


def test_apply_raising_memory_reads_the_current_limit(
    hybrid: Path, writes: list[tuple[str, str]]
) -> None:
    m = open_hybrid(hybrid)
    m.create()
    p = kernel_files(m)
    (p["memory"] / "memory.limit_in_bytes").write_text(f"{32 * MiB}\n")
    m.apply({"memory": {"limit": 128 * MiB, "swap": 256 * MiB}})
    assert [Path(path).name for path, _ in writes] == [
        "memory.memsw.limit_in_bytes",
        "memory.limit_in_bytes",
    ]


def test_apply_names_the_field_of_a_missing_file(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    kernel_files(m)
    with pytest.raises(CgroupError, match=r"^linux.resources.blockIO.leafWeight: .*does not exist"):
        m.apply({"blockIO": {"leafWeight": 100}})


def test_apply_tolerates_optional_files(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    p = kernel_files(m)
    # no hugetlb.2MB.rsvd.max and no cpu.cfs_burst_us: older kernels
    m.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}], "cpu": {"burst": 0}})
    assert (p[""] / "hugetlb.2MB.max").read_text() == "0"


def test_apply_before_create(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    with pytest.raises(CgroupError, match=r"^linux.resources.pids.limit: cgroup .* does not exist"):
        m.apply({"pids": {"limit": 1}})


def test_apply_refuses_what_the_host_lacks(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    with pytest.raises(CgroupError, match=r"^linux.resources.network.classID: the net_cls"):
        m.apply({"network": {"classID": 7}})


def test_apply_check_before_update(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    kernel_files(m)
    with pytest.raises(CgroupError, match="below the current usage 4096"):
        m.apply({"memory": {"limit": 1024, "checkBeforeUpdate": True}})
    m.apply({"memory": {"limit": 8192, "checkBeforeUpdate": True}})


def test_apply_returns_the_warnings(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    kernel_files(m)
    warnings = m.apply({"memory": {"kernel": 1}})
    assert len(warnings) == 1
    assert warnings[0].startswith("linux.resources.memory.kernel:")


def test_pids_include_sub_cgroups(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    freezer = files(Path(m.paths()["freezer"]), cgroup__procs="11\n12\n")
    files(freezer / "inner", cgroup__procs="13\n")
    assert m.pids() == [11, 12, 13]
    assert open_hybrid(hybrid, "nothing/here").pids() == []


def test_freeze_and_thaw_v1(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    p = kernel_files(m)
    assert not m.is_frozen()
    m.freeze()
    assert (p["freezer"] / "freezer.state").read_text() == "FROZEN"
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()


@pytest.fixture
def unified(tmp_path: Path) -> Path:
    files(tmp_path, cgroup__controllers="cpu memory pids\n", cgroup__subtree_control="")
    return tmp_path


def open_unified(root: Path) -> CgroupManager:
    return open_manager(
        "/dockyard-test/c1",
        "c1",
        root=root,
        mountinfo=UNIFIED_MOUNTINFO,
        self_cgroup="0::/user.slice\n",
    )


def test_unified_create_enables_the_controllers(
    unified: Path, writes: list[tuple[str, str]]
) -> None:
    files(
        unified / "dockyard-test",
        cgroup__controllers="cpu memory pids\n",
        cgroup__subtree_control="",
    )
    m = open_unified(unified)
    assert m.paths() == {"": str(unified / "dockyard-test/c1")}
    m.create()
    assert writes == [
        (str(level / "cgroup.subtree_control"), f"+{name}")
        for level in (unified, unified / "dockyard-test")
        for name in ("cpu", "memory", "pids")
    ]


def test_unified_apply(unified: Path) -> None:
    m = open_unified(unified)
    m.create()
    leaf = files(
        Path(m.paths()[""]),
        memory__max="max\n",
        memory__swap__max="max\n",
        cpu__weight="100\n",
        cpu__max="max 100000\n",
        pids__max="max\n",
    )
    m.apply({"memory": {"limit": 32 * MiB, "swap": 32 * MiB}, "cpu": {"shares": 1024}})
    assert (leaf / "memory.max").read_text() == str(32 * MiB)
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "cpu.weight").read_text() == "39"
    with pytest.raises(CgroupError, match="hugetlb controller is not available"):
        m.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})


def test_freeze_v2_waits_for_the_event(unified: Path) -> None:
    m = open_unified(unified)
    m.create()
    leaf = files(
        Path(m.paths()[""]), cgroup__freeze="0\n", cgroup__events="populated 1\nfrozen 0\n"
    )
    with pytest.raises(TimeoutError):
        m.freeze(timeout=0.05)
    assert (leaf / "cgroup.freeze").read_text() == "0"  # not left half frozen
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    m.freeze()
    assert (leaf / "cgroup.freeze").read_text() == "1"
    assert m.is_frozen()


def test_destroy_removes_leaf_first_and_twice_is_fine(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    m.create()
    (Path(m.paths()["memory"]) / "sub").mkdir()  # a cgroup the container made itself
    m.destroy()
    assert not any(Path(path).exists() for path in m.paths().values())
    assert (hybrid / "cpu/dockyard-test").is_dir()  # parents stay, as runc leaves them
    m.destroy()


def test_stats_v1(hybrid: Path) -> None:
    m = open_hybrid(hybrid)
    p = {name: Path(path) for name, path in m.paths().items()}
    files(
        p["memory"],
        memory__usage_in_bytes="8192\n",
        memory__max_usage_in_bytes="16384\n",
        memory__limit_in_bytes=V1_UNLIMITED,
        memory__failcnt="3\n",
        memory__stat="cache 4096\nrss 4096\ntotal_inactive_file 0\n",
        memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    )
    files(
        p["cpuacct"],
        cpuacct__usage="3000\n",
        cpuacct__usage_percpu="1000 2000 \n",
        cpuacct__usage_user="2000\n",
        cpuacct__usage_sys="1000\n",
    )
    files(p["cpu"], cpu__stat="nr_periods 10\nnr_throttled 2\nthrottled_time 500\n")
    files(p["pids"], pids__current="3\n", pids__max="10\n")
    files(
        p["blkio"],
        blkio__throttle__io_service_bytes_recursive="8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
        blkio__throttle__io_serviced_recursive="8:0 Read 1\nTotal 1\n",
    )
    assert m.stats() == {
        "memory_stats": {
            "usage": 8192,
            "max_usage": 16384,
            "limit": None,
            "failcnt": 3,
            "oom_kill": 1,
            "stats": {"cache": 4096, "rss": 4096, "total_inactive_file": 0},
        },
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": 3000,
                "percpu_usage": [1000, 2000],
                "usage_in_kernelmode": 1000,
                "usage_in_usermode": 2000,
            },
            "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 500},
        },
        "pids_stats": {"current": 3, "limit": 10},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 0},
            ],
            "io_serviced_recursive": [{"major": 8, "minor": 0, "op": "Read", "value": 1}],
        },
    }
    assert m.oom_killed()


def test_stats_v2(unified: Path) -> None:
    m = open_unified(unified)
    leaf = files(
        Path(m.paths()[""]),
        memory__current="8192\n",
        memory__peak="9000\n",
        memory__max="max\n",
        memory__events="low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n",
        memory__stat="anon 4096\nfile 4096\n",
        pids__current="2\n",
        pids__max="max\n",
        cpu__stat="usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 5\n"
        "nr_throttled 1\nthrottled_usec 7\n",
        io__stat="8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0\n",
    )
    assert leaf.is_dir()
    assert m.stats() == {
        "memory_stats": {
            "usage": 8192,
            "max_usage": 9000,
            "limit": None,
            "failcnt": 4,
            "oom_kill": 0,
            "stats": {"anon": 4096, "file": 4096},
        },
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": 30000,
                "percpu_usage": None,
                "usage_in_kernelmode": 10000,
                "usage_in_usermode": 20000,
            },
            "throttling_data": {"periods": 5, "throttled_periods": 1, "throttled_time": 7000},
        },
        "pids_stats": {"current": 2, "limit": None},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "write", "value": 512},
            ],
            "io_serviced_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 1},
                {"major": 8, "minor": 0, "op": "write", "value": 2},
            ],
        },
    }
    assert not m.oom_killed()

"""The pure planners: OCI linux.resources -> cgroup file writes, v1, v2 and hybrid routing."""

import errno

import pytest

from dockyard.runtime.cgroups import CgroupError, Write, plan_for_host, plan_v1, plan_v2
from dockyard.runtime.cgroups.convert import (
    blkio_weight_to_io_weight,
    shares_to_weight,
    swap_to_v2,
)

pytestmark = pytest.mark.unit

MiB = 1 << 20
VM_V1 = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]


def files(plan) -> list[tuple[str, str]]:
    return [(w.file, w.value) for w in plan.writes]


# ---- conversions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "weight"),
    [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 1),
        (512, 20),
        (1024, 39),
        (2048, 79),
        (262144, 10000),
        (300000, 10000),
    ],
)
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize(("blkio", "io"), [(0, 0), (10, 1), (100, 910), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio: int, io: int) -> None:
    assert blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize(
    ("swap", "memory", "v2"),
    [
        (0, 0, 0),
        (0, -1, -1),
        (-1, 100, -1),
        (0, 100, 0),
        (300, 100, 200),
        (100, 100, 0),
        (300, -1, 300),
    ],
)
def test_swap_to_v2(swap: int, memory: int, v2: int) -> None:
    assert swap_to_v2(swap, memory, "f") == v2


@pytest.mark.parametrize(("swap", "memory"), [(100, 0), (50, 100)])
def test_swap_to_v2_rejects(swap: int, memory: int) -> None:
    with pytest.raises(CgroupError, match=r"^f: "):
        swap_to_v2(swap, memory, "f")


# ---- v1 --------------------------------------------------------------------------------------


def test_v1_empty() -> None:
    assert plan_v1(None).writes == []
    assert plan_v1({}).writes == []
    # unknown properties are ignored, as the runtime spec requires
    assert plan_v1({"someFutureThing": {"x": 1}}).writes == []


def test_v1_memory_new_cgroup_writes_limit_then_swap() -> None:
    plan = plan_v1({"memory": {"limit": 32 * MiB, "swap": 64 * MiB, "reservation": 16 * MiB}})
    assert files(plan) == [
        ("memory.limit_in_bytes", str(32 * MiB)),
        ("memory.memsw.limit_in_bytes", str(64 * MiB)),
        ("memory.soft_limit_in_bytes", str(16 * MiB)),
    ]
    assert all(w.controller == "memory" and not w.unified for w in plan.writes)
    assert plan.writes[0].field == "linux.resources.memory.limit"
    assert plan.writes[1].field == "linux.resources.memory.swap"


def test_v1_memory_raising_writes_swap_first() -> None:
    plan = plan_v1(
        {"memory": {"limit": 128 * MiB, "swap": 256 * MiB}}, current_memory_limit=32 * MiB
    )
    assert [f for f, _ in files(plan)] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_v1_memory_lowering_writes_limit_first() -> None:
    plan = plan_v1(
        {"memory": {"limit": 32 * MiB, "swap": 64 * MiB}}, current_memory_limit=128 * MiB
    )
    assert [f for f, _ in files(plan)] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_v1_memory_unlimited_lifts_swap_too_where_accounted() -> None:
    plan = plan_v1({"memory": {"limit": -1}}, current_memory_limit=32 * MiB)
    assert files(plan) == [("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]
    assert plan.writes[0].tolerate == {errno.ENOENT}
    assert plan.writes[1].tolerate == frozenset()


def test_v1_memory_unlimited_swap_is_written_first() -> None:
    plan = plan_v1({"memory": {"limit": 32 * MiB, "swap": -1}})
    assert files(plan) == [
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", str(32 * MiB)),
    ]


def test_v1_memory_other_knobs() -> None:
    plan = plan_v1({"memory": {"swappiness": 0, "disableOOMKiller": True}})
    assert files(plan) == [("memory.oom_control", "1"), ("memory.swappiness", "0")]
    assert plan_v1({"memory": {"swappiness": -1, "disableOOMKiller": False}}).writes == []


def test_v1_memory_zero_means_unset() -> None:
    assert plan_v1({"memory": {"limit": 0, "reservation": 0, "swap": 0}}).writes == []


def test_v1_kernel_memory_is_ignored_with_a_warning() -> None:
    plan = plan_v1({"memory": {"kernel": 64 * MiB, "kernelTCP": 8 * MiB}})
    assert plan.writes == []
    assert len(plan.warnings) == 2
    assert plan.warnings[0].startswith("linux.resources.memory.kernel: ")
    assert plan.warnings[1].startswith("linux.resources.memory.kernelTCP: ")


def test_v1_check_before_update() -> None:
    plan = plan_v1({"memory": {"limit": 32 * MiB, "checkBeforeUpdate": True}})
    assert plan.check_memory_limit == 32 * MiB
    assert plan_v1({"memory": {"limit": 32 * MiB}}).check_memory_limit is None


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": {"limit": "32m"}}, "linux.resources.memory.limit: must be an integer"),
        ({"memory": {"limit": 1.5}}, "linux.resources.memory.limit: must be an integer"),
        ({"memory": {"limit": True}}, "linux.resources.memory.limit: must be an integer"),
        ({"memory": {"limit": -2}}, "linux.resources.memory.limit: must be >= -1, not -2"),
        ({"memory": {"swap": -5}}, "linux.resources.memory.swap: must be >= -1"),
        ({"memory": {"limit": 64, "swap": 32}}, r"linux.resources.memory.swap: memory\+swap"),
        ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness: must be <= 100"),
        ({"memory": {"disableOOMKiller": 1}}, "linux.resources.memory.disableOOMKiller: must be a"),
        ({"memory": []}, "linux.resources.memory: must be an object"),
        ({"cpu": {"shares": 1}}, "linux.resources.cpu.shares: must be between 2 and 262144"),
        ({"cpu": {"shares": 300000}}, "linux.resources.cpu.shares: must be between"),
        ({"cpu": {"shares": -1}}, "linux.resources.cpu.shares: must be >= 0"),
        ({"cpu": {"quota": -2}}, "linux.resources.cpu.quota: must be >= -1"),
        ({"cpu": {"period": -1}}, "linux.resources.cpu.period: must be >= 0"),
        ({"cpu": {"idle": 2}}, "linux.resources.cpu.idle: must be <= 1"),
        ({"cpu": {"cpus": "0-a"}}, "linux.resources.cpu.cpus: must be a list"),
        ({"cpu": {"mems": 0}}, "linux.resources.cpu.mems: must be a string"),
        ({"pids": {"limit": -2}}, "linux.resources.pids.limit: must be >= -1"),
        ({"pids": {"limit": "10"}}, "linux.resources.pids.limit: must be an integer"),
        ({"blockIO": {"weight": 1001}}, "linux.resources.blockIO.weight: must be <= 1000"),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}},
            r"linux.resources.blockIO.throttleReadBpsDevice\[0\]: major and minor are required",
        ),
        (
            {"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0}]}},
            r"linux.resources.blockIO.throttleWriteIOPSDevice\[0\].rate: is required",
        ),
        (
            {"hugepageLimits": [{"pageSize": "2M", "limit": 0}]},
            r"linux.resources.hugepageLimits\[0\].pageSize: must be a size",
        ),
        (
            {"hugepageLimits": [{"pageSize": "2MB"}]},
            r"linux.resources.hugepageLimits\[0\].limit: is required",
        ),
        ({"devices": {}}, "linux.resources.devices: must be an array"),
        ({"devices": [{"access": "rwm"}]}, r"linux.resources.devices\[0\].allow: is required"),
        (
            {"devices": [{"allow": True, "type": "u"}]},
            r"linux.resources.devices\[0\].type: must be 'a', 'c' or 'b'",
        ),
        (
            {"devices": [{"allow": True, "access": "rwx"}]},
            r"linux.resources.devices\[0\].access: must be made of r, w and m",
        ),
        (
            {"network": {"priorities": [{"name": "eth0"}]}},
            r"linux.resources.network.priorities\[0\].priority: is required",
        ),
        ({"network": {"classID": -1}}, "linux.resources.network.classID: must be >= 0"),
        ({"unified": {"memory.high": "max"}}, "linux.resources.unified: needs cgroup v2"),
    ],
)
def test_v1_validation(resources: dict, message: str) -> None:
    with pytest.raises(CgroupError, match=r"^" + message):
        plan_v1(resources)


def test_cgroup_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        plan_v1({"pids": {"limit": "x"}})


def test_v1_cpu_order() -> None:
    plan = plan_v1(
        {"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000, "idle": 0}}
    )
    assert files(plan) == [
        ("cpu.shares", "512"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_burst_us", "10000"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_burst_us", "10000"),
        ("cpu.idle", "0"),
    ]
    # the first period and burst may be refused against the old quota; the repeat is the real one
    assert plan.writes[1].tolerate == {errno.EINVAL}
    assert plan.writes[2].tolerate == {errno.EINVAL, errno.ENOENT}
    assert plan.writes[4].tolerate == frozenset()
    assert plan.writes[5].tolerate == {errno.ENOENT}  # kernels before 5.14 have no burst


def test_v1_cpu_period_alone_is_not_tolerant() -> None:
    plan = plan_v1({"cpu": {"period": 20000}})
    assert files(plan) == [("cpu.cfs_period_us", "20000")]
    assert plan.writes[0].tolerate == frozenset()


def test_v1_cpu_unlimited_quota() -> None:
    assert files(plan_v1({"cpu": {"quota": -1}})) == [("cpu.cfs_quota_us", "-1")]


def test_v1_cpu_realtime() -> None:
    plan = plan_v1({"cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000}})
    assert files(plan) == [
        ("cpu.rt_period_us", "1000000"),
        ("cpu.rt_runtime_us", "950000"),
        ("cpu.rt_period_us", "1000000"),
    ]
    assert plan.writes[0].tolerate == {errno.EINVAL}


def test_v1_cpuset() -> None:
    plan = plan_v1({"cpu": {"cpus": "0-1,3", "mems": "0"}})
    assert files(plan) == [("cpuset.cpus", "0-1,3"), ("cpuset.mems", "0")]
    assert {w.controller for w in plan.writes} == {"cpuset"}
    assert plan_v1({"cpu": {"cpus": "", "mems": ""}}).writes == []


@pytest.mark.parametrize(("limit", "value"), [(0, "0"), (-1, "max"), (100, "100")])
def test_v1_pids(limit: int, value: str) -> None:
    assert files(plan_v1({"pids": {"limit": limit}})) == [("pids.max", value)]


def test_v1_blkio() -> None:
    plan = plan_v1(
        {
            "blockIO": {
                "weight": 500,
                "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}],
            }
        }
    )
    assert files(plan) == [
        ("blkio.weight", "500"),
        ("blkio.leaf_weight", "300"),
        ("blkio.weight_device", "8:0 600"),
        ("blkio.leaf_weight_device", "8:0 200"),
        ("blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio.throttle.write_bps_device", "8:16 2097152"),
        ("blkio.throttle.read_iops_device", "8:0 100"),
        ("blkio.throttle.write_iops_device", "8:0 200"),
    ]
    # the test VM has only the BFQ files
    assert plan.writes[0].fallback == Write(
        "blkio", "blkio.bfq.weight", "500", "linux.resources.blockIO.weight"
    )
    assert plan.writes[2].fallback is not None
    assert plan.writes[2].fallback.file == "blkio.bfq.weight_device"
    assert plan.writes[4].field == "linux.resources.blockIO.throttleReadBpsDevice[0]"


def test_v1_hugetlb() -> None:
    plan = plan_v1({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    assert files(plan) == [
        ("hugetlb.2MB.limit_in_bytes", str(4 * MiB)),
        ("hugetlb.2MB.rsvd.limit_in_bytes", str(4 * MiB)),
    ]
    assert plan.writes[1].tolerate == {errno.ENOENT}
    assert plan.writes[0].field == "linux.resources.hugepageLimits[0]"


def test_v1_network() -> None:
    plan = plan_v1(
        {
            "network": {
                "classID": 0x100001,
                "priorities": [{"name": "eth0", "priority": 5}, {"name": "lo", "priority": 2}],
            }
        }
    )
    assert files(plan) == [
        ("net_cls.classid", "1048577"),
        ("net_prio.ifpriomap", "eth0 5"),
        ("net_prio.ifpriomap", "lo 2"),
    ]
    assert [w.controller for w in plan.writes] == ["net_cls", "net_prio", "net_prio"]


def test_v1_rdma() -> None:
    plan = plan_v1({"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4": {}}})
    assert files(plan) == [("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000")]


def test_v1_devices_deny_all_then_rules_in_order() -> None:
    plan = plan_v1(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": True, "type": "c", "major": 136, "access": "rw"},
                {"allow": False, "type": "b", "major": 8, "minor": -1, "access": "m"},
                {"allow": True, "type": "a", "access": "m"},
            ]
        }
    )
    assert files(plan) == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c 136:* rw"),
        ("devices.deny", "b 8:* m"),
        # "a" would mean everything whatever the access: spell out the partial one
        ("devices.allow", "c *:* m"),
        ("devices.allow", "b *:* m"),
    ]
    assert plan.writes[0].field == "linux.resources.devices"
    assert plan.writes[2].field == "linux.resources.devices[1]"


def test_v1_no_devices_key_leaves_devices_alone() -> None:
    assert plan_v1({"memory": {}}).writes == []
    assert files(plan_v1({"devices": []})) == [("devices.deny", "a")]


def test_v1_controller_filter() -> None:
    resources = {"memory": {"limit": MiB}, "pids": {"limit": 5}}
    assert files(plan_v1(resources, controllers=["pids"])) == [("pids.max", "5")]


def test_v1_order_follows_runc() -> None:
    plan = plan_v1(
        {
            "pids": {"limit": 5},
            "memory": {"limit": MiB},
            "cpu": {"shares": 100, "cpus": "0"},
            "devices": [],
        }
    )
    assert [w.controller for w in plan.writes] == ["cpuset", "devices", "memory", "cpu", "pids"]


# ---- v2 --------------------------------------------------------------------------------------


def test_v2_memory() -> None:
    plan = plan_v2({"memory": {"limit": 32 * MiB, "swap": 64 * MiB, "reservation": 16 * MiB}})
    assert files(plan) == [
        ("memory.swap.max", str(32 * MiB)),
        ("memory.max", str(32 * MiB)),
        ("memory.low", str(16 * MiB)),
    ]
    assert all(w.unified and w.controller == "memory" for w in plan.writes)


def test_v2_memory_swap_equal_to_limit_disables_swap() -> None:
    plan = plan_v2({"memory": {"limit": 32 * MiB, "swap": 32 * MiB}})
    assert files(plan) == [("memory.swap.max", "0"), ("memory.max", str(32 * MiB))]
    # without swap accounting there is no memory.swap.max, and nothing to disable
    assert plan.writes[0].tolerate == {errno.ENOENT}


def test_v2_memory_unlimited() -> None:
    plan = plan_v2({"memory": {"limit": -1}})
    assert files(plan) == [("memory.swap.max", "max"), ("memory.max", "max")]


def test_v2_memory_swap_without_limit() -> None:
    with pytest.raises(CgroupError, match=r"^linux.resources.memory.swap: cannot set a swap"):
        plan_v2({"memory": {"swap": 64 * MiB}})


def test_v2_memory_v1_only_knobs_warn() -> None:
    plan = plan_v2({"memory": {"swappiness": 10, "disableOOMKiller": True, "kernel": 5}})
    assert plan.writes == []
    assert [w.split(":")[0] for w in plan.warnings] == [
        "linux.resources.memory.kernel",
        "linux.resources.memory.swappiness",
        "linux.resources.memory.disableOOMKiller",
    ]


def test_v2_cpu() -> None:
    plan = plan_v2({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "idle": 0}})
    assert files(plan) == [("cpu.idle", "0"), ("cpu.weight", "39"), ("cpu.max", "50000 100000")]


@pytest.mark.parametrize(
    ("cpu", "value"),
    [
        ({"quota": 50000}, "50000 100000"),
        ({"quota": -1}, "max 100000"),
        ({"quota": -1, "period": 50000}, "max 50000"),
        ({"period": 20000}, "max 20000"),
    ],
)
def test_v2_cpu_max(cpu: dict, value: str) -> None:
    assert files(plan_v2({"cpu": cpu})) == [("cpu.max", value)]


@pytest.mark.parametrize(("shares", "weight"), [(2, "1"), (1024, "39"), (262144, "10000")])
def test_v2_cpu_weight(shares: int, weight: str) -> None:
    assert files(plan_v2({"cpu": {"shares": shares}})) == [("cpu.weight", weight)]


def test_v2_cpu_burst() -> None:
    plan = plan_v2({"cpu": {"quota": 50000, "burst": 10000}})
    assert files(plan) == [
        ("cpu.max.burst", "10000"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "10000"),
    ]
    assert plan.writes[0].tolerate == {errno.EINVAL}


def test_v2_cpu_realtime_is_an_error() -> None:
    with pytest.raises(CgroupError, match=r"^linux.resources.cpu.realtimeRuntime: realtime"):
        plan_v2({"cpu": {"realtimeRuntime": 1000}})


def test_v2_io() -> None:
    plan = plan_v2(
        {
            "blockIO": {
                "weight": 500,
                "leafWeight": 100,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 10}],
            }
        }
    )
    assert files(plan) == [
        ("io.bfq.weight", "500"),
        ("io.bfq.weight", "8:0 100"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:0 wiops=10"),
    ]
    assert plan.writes[0].fallback == Write(
        "io", "io.weight", "4950", "linux.resources.blockIO.weight", unified=True
    )
    assert plan.writes[1].fallback is not None
    assert plan.writes[1].fallback.value == "8:0 910"
    assert plan.warnings == [
        "linux.resources.blockIO.leafWeight: not supported on cgroup v2; ignored"
    ]


def test_v2_pids_cpuset_hugetlb_rdma() -> None:
    plan = plan_v2(
        {
            "pids": {"limit": -1},
            "cpu": {"cpus": "1", "mems": "0"},
            "hugepageLimits": [{"pageSize": "1GB", "limit": 0}],
            "rdma": {"mlx5_1": {"hcaHandles": 3}},
        }
    )
    assert files(plan) == [
        ("pids.max", "max"),
        ("cpuset.cpus", "1"),
        ("cpuset.mems", "0"),
        ("hugetlb.1GB.max", "0"),
        ("hugetlb.1GB.rsvd.max", "0"),
        ("rdma.max", "mlx5_1 hca_handle=3"),
    ]


def test_v2_devices_need_ebpf() -> None:
    plan = plan_v2({"devices": [{"allow": False, "access": "rwm"}]})
    assert plan.writes == []
    assert plan.devices_unenforced
    assert "eBPF" in plan.warnings[0]
    assert plan.warnings[0].startswith("linux.resources.devices: ")
    assert not plan_v2({}).devices_unenforced


def test_v2_devices_are_still_validated() -> None:
    with pytest.raises(CgroupError, match=r"devices\[0\].allow"):
        plan_v2({"devices": [{}]})


def test_v2_network_has_no_equivalent() -> None:
    with pytest.raises(CgroupError, match=r"^linux.resources.network: net_cls and net_prio"):
        plan_v2({"network": {"classID": 1}})


def test_v2_unified_is_written_as_given_and_last() -> None:
    plan = plan_v2(
        {
            "unified": {
                "memory.high": "max",
                "io.max": "8:0 rbps=1\n8:16 wbps=2",
                "cgroup.max.descendants": "10",
            },
            "pids": {"limit": 3},
        }
    )
    assert plan.writes[-4:] == [
        Write("memory", "memory.high", "max", "linux.resources.unified.memory.high", unified=True),
        Write("io", "io.max", "8:0 rbps=1", "linux.resources.unified.io.max", unified=True),
        Write("io", "io.max", "8:16 wbps=2", "linux.resources.unified.io.max", unified=True),
        Write(
            "",
            "cgroup.max.descendants",
            "10",
            "linux.resources.unified.cgroup.max.descendants",
            unified=True,
        ),
    ]
    assert plan.writes[0].file == "pids.max"


@pytest.mark.parametrize(
    ("unified", "message"),
    [
        ({"../memory.max": "1"}, "no slashes"),
        ({"memory": "1"}, "CONTROLLER.PARAMETER"),
        ({"memory.max": 1}, "must be a string"),
    ],
)
def test_v2_unified_validation(unified: dict, message: str) -> None:
    with pytest.raises(CgroupError, match=f"^linux.resources.unified.*: .*{message}"):
        plan_v2({"unified": unified})


# ---- routing on a host -----------------------------------------------------------------------


def test_hybrid_routes_hugetlb_to_cgroup2() -> None:
    plan = plan_for_host(
        {"memory": {"limit": MiB}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]},
        v1_controllers=VM_V1,
        unified_controllers={"hugetlb"},
    )
    assert [(w.unified, w.file) for w in plan.writes] == [
        (False, "memory.limit_in_bytes"),
        (True, "hugetlb.2MB.max"),
        (True, "hugetlb.2MB.rsvd.max"),
    ]


def test_hybrid_without_the_controller_anywhere_names_the_field() -> None:
    resources = {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}
    with pytest.raises(
        CgroupError,
        match=r"^linux.resources.hugepageLimits\[0\]: the hugetlb cgroup controller is not",
    ):
        plan_for_host(resources, v1_controllers=VM_V1, unified_controllers=set())
    with pytest.raises(CgroupError, match=r"^linux.resources.network.classID: the net_cls"):
        plan_for_host({"network": {"classID": 1}}, v1_controllers=VM_V1, unified_controllers=set())


def test_unset_fields_of_missing_controllers_are_fine() -> None:
    plan = plan_for_host(
        {"network": {}, "hugepageLimits": []}, v1_controllers=VM_V1, unified_controllers=None
    )
    assert plan.writes == []


def test_hybrid_unified_keys_go_to_cgroup2_when_it_has_the_controller() -> None:
    plan = plan_for_host(
        {"unified": {"hugetlb.2MB.max": "0"}}, v1_controllers=VM_V1, unified_controllers={"hugetlb"}
    )
    assert [(w.unified, w.file) for w in plan.writes] == [(True, "hugetlb.2MB.max")]
    with pytest.raises(CgroupError, match=r"^linux.resources.unified.memory.high: the memory"):
        plan_for_host(
            {"unified": {"memory.high": "max"}}, v1_controllers=VM_V1, unified_controllers=set()
        )


def test_legacy_refuses_unified() -> None:
    with pytest.raises(CgroupError, match=r"^linux.resources.unified: needs cgroup v2"):
        plan_for_host(
            {"unified": {"memory.high": "max"}}, v1_controllers=VM_V1, unified_controllers=None
        )


def test_legacy_passes_the_current_memory_limit() -> None:
    plan = plan_for_host(
        {"memory": {"limit": 128 * MiB, "swap": 256 * MiB}},
        v1_controllers=VM_V1,
        unified_controllers=None,
        current_memory_limit=32 * MiB,
    )
    assert plan.writes[0].file == "memory.memsw.limit_in_bytes"


def test_unified_host_checks_the_available_controllers() -> None:
    resources = {"pids": {"limit": 5}, "memory": {"limit": MiB}}
    plan = plan_for_host(resources, v1_controllers=[], unified_controllers={"pids", "memory"})
    assert [w.file for w in plan.writes] == ["pids.max", "memory.max"]
    with pytest.raises(CgroupError, match=r"^linux.resources.pids.limit: the pids controller"):
        plan_for_host(resources, v1_controllers=[], unified_controllers={"memory"})


def test_unified_host_devices_warn() -> None:
    plan = plan_for_host({"devices": []}, v1_controllers=[], unified_controllers=set())
    assert plan.devices_unenforced
    assert plan.writes == []

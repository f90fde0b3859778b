"""Detecting the cgroup layout and placing a container's cgroup in each hierarchy."""

import pytest

from dockyard.runtime.cgroups import (
    CgroupError,
    Mode,
    current_cgroups,
    default_cgroups_path,
    detect_layout,
    resolve_paths,
)
from dockyard.runtime.cgroups.paths import clean_cgroups_path

pytestmark = pytest.mark.unit

# The test VM (Debian 12, kernel 6.18): v1 controllers each mounted alone, cgroup2 beside them.
HYBRID_MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12358300k,nr_inodes=3089575,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_SELF_CGROUP = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/917a9851
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

# A systemd host booted with cgroup v2 only (Debian 12's default).
UNIFIED_MOUNTINFO = """\
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
27 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""
UNIFIED_SELF_CGROUP = "0::/user.slice/user-0.slice/session-1.scope\n"

# An older systemd host with cgroup v1 only: cpu,cpuacct and net_cls,net_prio mounted together.
LEGACY_MOUNTINFO = """\
18 62 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup \
rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup \
cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup \
cgroup rw,net_cls,net_prio
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup \
rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
32 25 0:29 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup \
rw,hugetlb
33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup \
rw,cpuset
"""
LEGACY_SELF_CGROUP = """\
7:cpuset:/
6:hugetlb:/
5:pids:/user.slice/user-0.slice/session-1.scope
4:memory:/user.slice
3:net_cls,net_prio:/
2:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-0.slice/session-1.scope
"""


def test_hybrid_layout_of_the_test_vm() -> None:
    layout = detect_layout(HYBRID_MOUNTINFO)
    assert layout.mode == Mode.HYBRID
    assert set(layout.v1) == {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
    }
    assert layout.v1["cpu"].mount_point == "/sys/fs/cgroup/cpu"
    assert layout.v1["cpuacct"].mount_point == "/sys/fs/cgroup/cpuacct"
    assert layout.unified is not None
    assert layout.unified.mount_point == "/sys/fs/cgroup/unified"
    assert "hugetlb" not in layout.v1


def test_unified_layout() -> None:
    layout = detect_layout(UNIFIED_MOUNTINFO)
    assert layout.mode == Mode.UNIFIED
    assert layout.v1 == {}
    assert layout.unified is not None
    assert layout.unified.mount_point == "/sys/fs/cgroup"
    assert set(layout.hierarchies()) == {""}


def test_legacy_layout_with_comounted_controllers() -> None:
    layout = detect_layout(LEGACY_MOUNTINFO)
    assert layout.mode == Mode.LEGACY
    assert layout.unified is None
    assert layout.v1["cpu"] is layout.v1["cpuacct"]
    assert layout.v1["cpu"].mount_point == "/sys/fs/cgroup/cpu,cpuacct"
    assert layout.v1["net_prio"].mount_point == "/sys/fs/cgroup/net_cls,net_prio"
    assert layout.v1["name=systemd"].mount_point == "/sys/fs/cgroup/systemd"
    # xattr and release_agent=... are mount options, not controllers
    assert "xattr" not in layout.v1
    assert not any(name.startswith("release_agent") for name in layout.v1)


def test_escaped_mount_points_and_subtree_roots() -> None:
    mountinfo = (
        "40 31 0:37 /docker/abc /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    layout = detect_layout(mountinfo)
    assert layout.v1["memory"].mount_point == "/sys/fs/cgroup/my memory"
    assert layout.v1["memory"].root == "/docker/abc"


def test_only_named_systemd_next_to_cgroup2_is_unified() -> None:
    mountinfo = (
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    assert detect_layout(mountinfo).mode == Mode.UNIFIED


def test_no_cgroups_at_all() -> None:
    with pytest.raises(CgroupError, match="no cgroup"):
        detect_layout("22 27 0:21 / /proc rw,relatime - proc proc rw\n")


def test_current_cgroups() -> None:
    assert current_cgroups(LEGACY_SELF_CGROUP) == {
        "cpuset": "/",
        "hugetlb": "/",
        "pids": "/user.slice/user-0.slice/session-1.scope",
        "memory": "/user.slice",
        "net_cls": "/",
        "net_prio": "/",
        "cpu": "/user.slice",
        "cpuacct": "/user.slice",
        "name=systemd": "/user.slice/user-0.slice/session-1.scope",
    }
    assert current_cgroups(UNIFIED_SELF_CGROUP) == {"": "/user.slice/user-0.slice/session-1.scope"}
    assert current_cgroups("0::/a:b\n")[""] == "/a:b"


def test_relative_path_nests_under_the_callers_cgroup_per_controller() -> None:
    layout = detect_layout(HYBRID_MOUNTINFO)
    paths = resolve_paths(layout, "dockyard/c1", current_cgroups(HYBRID_SELF_CGROUP))
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/917a9851/dockyard/c1"
    assert paths["cpu"] == "/sys/fs/cgroup/cpu/dockyard/c1"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/dockyard/c1"
    assert paths[""] == "/sys/fs/cgroup/unified/dockyard/c1"


def test_absolute_path_is_taken_from_each_hierarchy_root() -> None:
    layout = detect_layout(HYBRID_MOUNTINFO)
    paths = resolve_paths(layout, "/docker/c1", current_cgroups(HYBRID_SELF_CGROUP))
    assert paths["memory"] == "/sys/fs/cgroup/memory/docker/c1"
    assert paths["pids"] == "/sys/fs/cgroup/pids/docker/c1"


def test_comounted_controllers_share_a_directory() -> None:
    layout = detect_layout(LEGACY_MOUNTINFO)
    paths = resolve_paths(layout, "c1", current_cgroups(LEGACY_SELF_CGROUP))
    assert paths["cpu"] == paths["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/user.slice/c1"
    assert paths["pids"] == "/sys/fs/cgroup/pids/user.slice/user-0.slice/session-1.scope/c1"
    assert "" not in paths


def test_unified_relative_path() -> None:
    layout = detect_layout(UNIFIED_MOUNTINFO)
    paths = resolve_paths(layout, "c1", current_cgroups(UNIFIED_SELF_CGROUP))
    assert paths == {"": "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/c1"}


def test_mount_showing_a_subtree() -> None:
    mountinfo = "40 31 0:37 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    layout = detect_layout(mountinfo)
    paths = resolve_paths(layout, "c1", {"memory": "/docker/abc/inner"})
    assert paths["memory"] == "/sys/fs/cgroup/memory/inner/c1"
    with pytest.raises(CgroupError, match="outside the mount"):
        resolve_paths(layout, "c1", {"memory": "/elsewhere"})


def test_caller_missing_from_proc_self_cgroup() -> None:
    layout = detect_layout(HYBRID_MOUNTINFO)
    with pytest.raises(CgroupError, match=r"cpuacct cgroup is not in /proc/self/cgroup"):
        resolve_paths(layout, "c1", {"cpu": "/"})


def test_default_path() -> None:
    assert default_cgroups_path("abc") == "dockyard/abc"
    assert default_cgroups_path("abc", parent="dockyard-test-1234") == "dockyard-test-1234/abc"


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("/docker/c1", "/docker/c1"),
        ("/docker//c1/", "/docker/c1"),
        ("/../../c1", "/c1"),
        ("a/./b", "a/b"),
        ("../../../etc", "etc"),
        ("a/../../b", "b"),
    ],
)
def test_clean_path_never_climbs_out(given: str, cleaned: str) -> None:
    assert clean_cgroups_path(given) == cleaned


@pytest.mark.parametrize("bad", ["/", "", ".", "a/..", "system.slice:docker:c1"])
def test_clean_path_rejects(bad: str) -> None:
    with pytest.raises(CgroupError, match=r"linux\.cgroupsPath"):
        clean_cgroups_path(bad)

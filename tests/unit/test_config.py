"""config.json parsing and validation (runtime/config.py): every error names its field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.config import Config, load_bundle, parse_config
from dockyard.runtime.errors import ConfigError

pytestmark = pytest.mark.unit

MINIMAL: dict[str, Any] = {
    "ociVersion": "1.2.0",
    "root": {"path": "rootfs"},
    "process": {"args": ["sh"], "cwd": "/"},
    "linux": {"namespaces": [{"type": "mount"}]},
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle with an empty rootfs, shared: parse_config only reads it."""
    path = tmp_path_factory.mktemp("bundle")
    (path / "rootfs").mkdir()
    return path


@pytest.fixture
def fresh_bundle(tmp_path: Path) -> Path:
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def config(**changes: Any) -> dict[str, Any]:
    """MINIMAL with top-level keys replaced (None removes the key)."""
    raw = copy.deepcopy(MINIMAL)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def process(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL["process"])
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def linux(*namespaces: Any, **changes: Any) -> dict[str, Any]:
    """A linux section with a mount namespace plus `namespaces` (type or (type, path))."""
    entries = [{"type": "mount"}]
    for ns in namespaces:
        kind, path = (ns, "") if isinstance(ns, str) else ns
        entries.append({"type": kind, **({"path": path} if path else {})})
    return {"namespaces": entries, **changes}


def error(raw: Any, bundle: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, str(bundle))
    return info.value


# --- a valid config ----------------------------------------------------------------


def test_minimal_config(bundle: Path) -> None:
    parsed = parse_config(config(), str(bundle))
    assert isinstance(parsed, Config)
    assert parsed.oci_version == "1.2.0"
    assert parsed.root_path == str(bundle / "rootfs")
    assert parsed.root_readonly is False
    assert parsed.process is not None
    assert parsed.process.args == ("sh",)
    assert parsed.process.cwd == "/"
    assert parsed.process.user.uid == 0 and parsed.process.user.gid == 0
    assert parsed.process.capabilities is None
    assert parsed.mounts == ()
    assert [ns.type for ns in parsed.linux.namespaces] == ["mount"]
    assert parsed.linux.new_namespace("mount")
    assert set(parsed.hooks) == {
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart",
        "poststop",
    }
    assert all(hooks == () for hooks in parsed.hooks.values())


def test_full_config_fields(bundle: Path) -> None:
    raw = config(
        root={"path": str(bundle / "rootfs"), "readonly": True},
        hostname="box",
        process=process(
            env=["A=1", "PATH=/bin", "A=2"],
            user={"uid": 1000, "gid": 100, "umask": 0o027, "additionalGids": [5, 6]},
            rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
            capabilities={"bounding": ["CAP_KILL"], "ambient": []},
            noNewPrivileges=True,
            oomScoreAdj=-500,
            consoleSize={"height": 24, "width": 80},
            terminal=True,
        ),
        mounts=[{"destination": "dev//shm/", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "size=65536k"]}],
        hooks={"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]},
        linux=linux("uts", "ipc", "network", ("user", ""), "time",
                    uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
                    gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
                    sysctl={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1",
                            "fs.mqueue.msg_max": "10"},
                    devices=[{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229,
                              "fileMode": 0o666}],
                    rootfsPropagation="rslave",
                    maskedPaths=["/proc/kcore"], readonlyPaths=["/proc/sys"],
                    timeOffsets={"monotonic": {"secs": 1}}),
    )
    parsed = parse_config(raw, str(bundle))
    assert parsed.root_readonly is True
    assert parsed.hostname == "box"
    proc = parsed.process
    assert proc is not None
    assert proc.env_value("A") == "2"
    assert proc.user.umask == 0o027 and proc.user.additional_gids == (5, 6)
    assert proc.rlimits[0].resource == 7
    assert proc.capabilities is not None and proc.capabilities.bounding == ("CAP_KILL",)
    assert proc.console_size == (24, 80)
    assert proc.oom_score_adj == -500
    assert parsed.mounts[0].destination == "/dev/shm"  # relative: from "/", normalised
    assert parsed.hooks["prestart"][0].timeout == 5
    assert parsed.linux.uid_mappings[0].host_id == 100000
    assert parsed.linux.devices[0].file_mode == 0o666
    assert parsed.linux.rootfs_propagation == "rslave"


def test_unknown_properties_are_ignored(bundle: Path) -> None:
    raw = config(
        somethingNew={"x": 1},
        process=process(futureField=[1, 2]),
        linux=linux(intelRdt={"closID": "x"}, futureThing=True),
        root={"path": "rootfs", "extra": "y"},
    )
    raw["vm"] = {"hypervisor": {"path": "/x"}}
    parsed = parse_config(raw, str(bundle))
    assert parsed.process is not None and parsed.process.args == ("sh",)


def test_process_is_optional(bundle: Path) -> None:
    assert parse_config(config(process=None), str(bundle)).process is None


# --- every validation error names its field -------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        # malformed types
        ({"process": process(args="sh")}, "process.args"),
        ({"process": process(args=["sh", 1])}, "process.args[1]"),
        ({"process": process(cwd=5)}, "process.cwd"),
        ({"process": process(terminal="yes")}, "process.terminal"),
        ({"process": process(user={"uid": "0"})}, "process.user.uid"),
        ({"process": process(user={"uid": True})}, "process.user.uid"),
        ({"process": process(user={"gid": -1})}, "process.user.gid"),
        ({"process": process(user=[])}, "process.user"),
        ({"process": process(env="A=1")}, "process.env"),
        ({"process": process(noNewPrivileges=1)}, "process.noNewPrivileges"),
        ({"process": process(capabilities={"bounding": "CAP_KILL"})},
         "process.capabilities.bounding"),
        ({"process": "sh"}, "process"),
        ({"mounts": {"destination": "/x"}}, "mounts"),
        ({"mounts": [{"type": "tmpfs"}]}, "mounts[0].destination"),
        ({"mounts": [{"destination": "/x", "options": "ro"}]}, "mounts[0].options"),
        ({"linux": "x"}, "linux"),
        ({"linux": linux(namespaces={"type": "mount"})}, "linux.namespaces"),
        ({"hostname": 7}, "hostname"),
        ({"root": {"path": "rootfs", "readonly": "no"}}, "root.readonly"),
        ({"annotations": {"a": 1}}, "annotations.a"),
        ({"ociVersion": 1.2}, "ociVersion"),
        # required fields
        ({"ociVersion": None}, "ociVersion"),
        ({"ociVersion": "2.0.0"}, "ociVersion"),
        ({"root": None}, "root.path"),
        ({"root": {"readonly": True}}, "root.path"),
        ({"process": process(cwd=None)}, "process.cwd"),
        ({"process": process(args=None)}, "process.args"),
        ({"process": process(args=[])}, "process.args"),
        ({"process": process(cwd="tmp")}, "process.cwd"),
        # namespaces
        ({"linux": linux("pidd")}, "linux.namespaces[1].type"),
        ({"linux": linux("pid", "pid")}, "linux.namespaces[2].type"),
        ({"linux": linux(("net", ""))}, "linux.namespaces[1].type"),
        ({"linux": linux(("network", "proc/1/ns/net"))}, "linux.namespaces[1].path"),
        ({"linux": {"namespaces": [{"type": "pid"}]}}, "linux.namespaces"),
        ({"linux": linux(uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}])},
         "linux.uidMappings"),
        ({"linux": linux(("user", "/proc/1/ns/user"),
                         uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}],
                         gidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}])},
         "linux.uidMappings"),
        ({"linux": linux("user")}, "linux.uidMappings"),
        ({"linux": linux("user", uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}])},
         "linux.uidMappings"),
        ({"linux": linux("user",
                         uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}],
                         gidMappings=[{"containerID": 0, "hostID": 1, "size": 1}])},
         "linux.uidMappings[0].size"),
        # rlimits
        ({"process": process(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])},
         "process.rlimits[0].type"),
        ({"process": process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                      {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}])},
         "process.rlimits[1].type"),
        ({"process": process(rlimits=[{"type": "RLIMIT_CORE", "soft": 10, "hard": 5}])},
         "process.rlimits[0]"),
        ({"process": process(rlimits=[{"type": "RLIMIT_CORE", "soft": -1, "hard": 5}])},
         "process.rlimits[0].soft"),
        # ranges
        ({"process": process(user={"umask": 0o1000})}, "process.user.umask"),
        ({"process": process(user={"umask": -1})}, "process.user.umask"),
        ({"process": process(oomScoreAdj=1001)}, "process.oomScoreAdj"),
        ({"process": process(oomScoreAdj=-1001)}, "process.oomScoreAdj"),
        ({"process": process(env=["A=1", "NOEQUALS"])}, "process.env[1]"),
        # hooks
        ({"hooks": {"prestart": [{"path": "/bin/true", "timeout": 0}]}},
         "hooks.prestart[0].timeout"),
        ({"hooks": {"poststop": [{"path": "/bin/true"}, {"path": "/x", "timeout": -3}]}},
         "hooks.poststop[1].timeout"),
        ({"hooks": {"prestart": [{"path": "bin/true"}]}}, "hooks.prestart[0].path"),
        ({"hooks": {"createRuntime": [{}]}}, "hooks.createRuntime[0].path"),
        ({"hooks": {"prestart": {"path": "/bin/true"}}}, "hooks.prestart"),
        # devices
        ({"linux": linux(devices=[{"type": "x", "path": "/dev/x"}])}, "linux.devices[0].type"),
        ({"linux": linux(devices=[{"type": "c", "path": "dev/x"}])}, "linux.devices[0].path"),
        ({"linux": linux(devices=[{"type": "c", "path": "/dev/x", "major": -1}])},
         "linux.devices[0].major"),
        # sysctls
        ({"linux": linux(sysctl={"vm.swappiness": "10"})}, "linux.sysctl.vm.swappiness"),
        ({"linux": linux("network", sysctl={"kernel.panic": "1"})}, "linux.sysctl.kernel.panic"),
        ({"linux": linux(sysctl={"net.ipv4.ip_forward": "1"})},
         "linux.sysctl.net.ipv4.ip_forward"),
        ({"linux": linux(sysctl={"kernel.shmmax": "1"})}, "linux.sysctl.kernel.shmmax"),
        ({"linux": linux(("ipc", "/proc/1/ns/ipc"), sysctl={"kernel.shmmax": "1"})},
         "linux.sysctl.kernel.shmmax"),
        ({"linux": linux(sysctl={"fs.mqueue.msg_max": "1"})},
         "linux.sysctl.fs.mqueue.msg_max"),
        ({"linux": linux(sysctl={"kernel.domainname": "x"})},
         "linux.sysctl.kernel.domainname"),
        ({"linux": linux(sysctl={"net.ipv4.ip_forward": 1})},
         "linux.sysctl.net.ipv4.ip_forward"),
        # time namespace
        ({"linux": linux(timeOffsets={"boottime": {"secs": 1}})}, "linux.timeOffsets"),
        ({"linux": linux(("time", "/proc/1/ns/time"), timeOffsets={"boottime": {"secs": 1}})},
         "linux.timeOffsets"),
        # propagation, paths
        ({"linux": linux(rootfsPropagation="sideways")}, "linux.rootfsPropagation"),
        ({"linux": linux(maskedPaths=["proc/kcore"])}, "linux.maskedPaths"),
        ({"linux": linux(readonlyPaths=["proc/sys"])}, "linux.readonlyPaths"),
        ({"linux": linux(seccomp=[])}, "linux.seccomp"),
        # uts
        ({"hostname": "box"}, "hostname"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_validation_error_names_field(
    bundle: Path, changes: dict[str, Any], field: str
) -> None:
    err = error(config(**changes), bundle)
    assert err.field == field
    assert str(err).startswith(field + ": ")
    assert "\n" not in str(err)


def test_config_must_be_an_object(bundle: Path) -> None:
    assert error([], bundle).field == "config.json"


def test_rootfs_must_exist(tmp_path: Path) -> None:
    err = error(config(), tmp_path)  # no rootfs directory
    assert str(err).startswith("root.path: ")
    assert str(tmp_path / "rootfs") in str(err)


def test_rootfs_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "rootfs").write_text("")
    assert error(config(), tmp_path).field == "root.path"


def test_root_path_relative_to_bundle_and_absolute(bundle: Path) -> None:
    assert parse_config(config(root={"path": "./rootfs/"}), str(bundle)).root_path == str(
        bundle / "rootfs"
    )
    absolute = str(bundle / "rootfs")
    assert parse_config(config(root={"path": absolute}), str(bundle)).root_path == absolute


def test_namespaced_sysctls_with_their_namespace_are_accepted(bundle: Path) -> None:
    raw = config(linux=linux("ipc", ("network", "/proc/1/ns/net"), "uts",
                             sysctl={"kernel.msgmax": "1", "net.core.somaxconn": "1",
                                     "kernel.domainname": "x"}))
    assert parse_config(raw, str(bundle)).linux.sysctl["kernel.msgmax"] == "1"


def test_hostname_with_joined_uts_namespace_is_accepted(bundle: Path) -> None:
    raw = config(hostname="box", linux=linux(("uts", "/proc/1/ns/uts")))
    assert parse_config(raw, str(bundle)).hostname == "box"


def test_gid_mappings_without_user_namespace_names_gid_mappings(bundle: Path) -> None:
    raw = config(linux=linux(gidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}]))
    assert error(raw, bundle).field == "linux.gidMappings"


def test_hook_env_without_equals_is_rejected(bundle: Path) -> None:
    raw = config(hooks={"prestart": [{"path": "/bin/true", "env": ["NOEQUALS"]}]})
    assert error(raw, bundle).field == "hooks.prestart[0].env[0]"


# --- load_bundle ------------------------------------------------------------------


def test_load_bundle(fresh_bundle: Path) -> None:
    (fresh_bundle / "config.json").write_text(json.dumps(config()))
    parsed, raw = load_bundle(str(fresh_bundle))
    assert parsed.process is not None and parsed.process.args == ("sh",)
    assert raw == config()


def test_load_bundle_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_bundle(str(tmp_path))
    assert str(info.value).startswith("config.json: ")
    assert "does not exist" in str(info.value)


def test_load_bundle_invalid_json(fresh_bundle: Path) -> None:
    (fresh_bundle / "config.json").write_text('{"ociVersion": ')
    with pytest.raises(ConfigError) as info:
        load_bundle(str(fresh_bundle))
    assert str(info.value).startswith("config.json: ")
    assert "not valid JSON" in str(info.value)

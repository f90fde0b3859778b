"""Docker's Config/HostConfig + image config -> OCI config.json (pure)."""

from __future__ import annotations

import pytest

from dockyard.engine import containers as c
from dockyard.engine import jsonlog, names
from dockyard.engine import spec as sp
from dockyard.engine.errors import InvalidParameter

pytestmark = pytest.mark.unit

CID = "0123456789abcdef" * 4
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# comment
bad line
www:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
www:x:33:
audio:x:29:www,nobody
video:x:44:www
staff:x:50:
"""


def gen(config=None, host=None, image=None, **kw):
    inp = sp.SpecInputs(container_id=CID, config={"Image": "busybox", **(config or {})},
                        host_config=host or {}, image_config=image or {"Cmd": ["sh"]},
                        passwd=PASSWD, group=GROUP, **kw)
    return sp.generate(inp)


# --- command --------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "image", "args"), [
    ({}, {"Cmd": ["sh"]}, ["sh"]),
    ({"Cmd": ["echo", "hi"]}, {"Cmd": ["sh"]}, ["echo", "hi"]),
    ({}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/ep", "a"]),
    ({"Cmd": ["b"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/ep", "b"]),
    ({"Entrypoint": ["/x"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/x"]),
    ({"Entrypoint": ["/x"], "Cmd": ["y"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]},
     ["/x", "y"]),
    ({"Entrypoint": [""], "Cmd": ["ls"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["ls"]),
    ({"Entrypoint": "", "Cmd": ["ls"]}, {"Entrypoint": ["/ep"]}, ["ls"]),
    ({"Cmd": "echo 'a b'"}, {}, ["echo", "a b"]),
])
def test_resolve_command(config, image, args):
    assert sp.resolve_command(config, image) == args


def test_no_command():
    with pytest.raises(InvalidParameter, match="No command specified"):
        sp.resolve_command({}, {})
    with pytest.raises(InvalidParameter):
        sp.resolve_command({"Entrypoint": [""]}, {"Cmd": ["sh"]})


def test_env_merge_user_overrides_image_in_place():
    assert sp.merge_env(["PATH=/bin", "A=1"], ["A=2", "B=3"]) == ["PATH=/bin", "A=2", "B=3"]
    assert sp.merge_env(None, ["X="]) == ["X="]
    with pytest.raises(InvalidParameter):
        sp.merge_env([], ["=x"])


def test_spec_env_order():
    spec = gen({"Env": ["FOO=bar", "PATH=/mine"]}, image={"Cmd": ["sh"], "Env": ["IMG=1"]})
    env = spec["process"]["env"]
    assert "PATH=/mine" in env and "IMG=1" in env and "FOO=bar" in env
    assert f"HOSTNAME={CID[:12]}" in env
    assert sum(e.startswith("PATH=") for e in env) == 1


# --- user -------------------------------------------------------------------------------

@pytest.mark.parametrize(("user", "expect"), [
    ("", (0, 0, [])),
    ("0", (0, 0, [])),
    ("www", (33, 33, [29, 44])),
    ("33", (33, 33, [29, 44])),
    ("www:staff", (33, 50, [])),
    ("www:7", (33, 7, [])),
    ("1234", (1234, 0, [])),
    ("1234:5678", (1234, 5678, [])),
    ("nobody", (65534, 65534, [29])),
])
def test_resolve_user(user, expect):
    assert sp.resolve_user(user, PASSWD, GROUP) == expect


def test_resolve_user_unknown_names():
    with pytest.raises(InvalidParameter, match="unable to find user ghost"):
        sp.resolve_user("ghost", PASSWD, GROUP)
    with pytest.raises(InvalidParameter, match="unable to find group ghosts"):
        sp.resolve_user("www:ghosts", PASSWD, GROUP)
    # No passwd file in the image: numbers still work
    assert sp.resolve_user("5:6", None, None) == (5, 6, [])


def test_spec_user_and_workdir():
    spec = gen({"User": "www", "WorkingDir": "/srv"})
    assert spec["process"]["user"] == {"uid": 33, "gid": 33, "additionalGids": [29, 44]}
    assert spec["process"]["cwd"] == "/srv"
    spec = gen({}, image={"Cmd": ["sh"], "User": "daemon", "WorkingDir": "/w"})
    assert spec["process"]["user"]["uid"] == 1
    assert spec["process"]["cwd"] == "/w"
    with pytest.raises(InvalidParameter, match="absolute"):
        gen({"WorkingDir": "rel"})


# --- identity, labels, tty ------------------------------------------------------------

def test_hostname_default_and_domain():
    spec = gen()
    assert spec["hostname"] == CID[:12]
    spec = gen({"Hostname": "web", "Domainname": "example.org"})
    assert spec["hostname"] == "web" and spec["domainname"] == "example.org"


def test_labels_to_annotations_and_tty():
    spec = gen({"Labels": {"a": "b"}, "Tty": True})
    assert spec["annotations"] == {"a": "b"}
    assert spec["process"]["terminal"] is True
    assert "TERM=xterm" in spec["process"]["env"]


def test_cgroups_path():
    assert gen()["linux"]["cgroupsPath"] == f"/dockyard/{CID}"
    assert gen(host={"CgroupParent": "mine"})["linux"]["cgroupsPath"] == f"/mine/{CID}"
    assert gen(host={"CgroupParent": "/a/b/"})["linux"]["cgroupsPath"] == f"/a/b/{CID}"


# --- mounts ---------------------------------------------------------------------------

def dests(spec):
    return {m["destination"]: m for m in spec["mounts"]}


def test_binds_and_etc_files(tmp_path):
    spec = gen(host={"Binds": ["/srv:/data:ro", "/tmp:/tmp"]}, container_dir=str(tmp_path))
    m = dests(spec)
    assert m["/data"]["source"] == "/srv" and "ro" in m["/data"]["options"]
    assert "ro" not in m["/tmp"]["options"] and "rbind" in m["/tmp"]["options"]
    for name in ("hosts", "hostname", "resolv.conf"):
        assert m[f"/etc/{name}"]["source"] == str(tmp_path / name)


@pytest.mark.parametrize("bad", ["/a", "/a:b", "/a:/b:bogus", "/a:/b:ro:x", "vol:/b:rshared"])
def test_bad_binds(bad):
    with pytest.raises(InvalidParameter):
        gen(host={"Binds": [bad]})


def test_mounts_bind_tmpfs_and_tmpfs_map():
    spec = gen(host={
        "Mounts": [
            {"Type": "bind", "Source": "/srv", "Target": "/s", "ReadOnly": True},
            {"Type": "tmpfs", "Target": "/scratch",
             "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1777}},
        ],
        "Tmpfs": {"/run": "rw,size=64k"},
    })
    m = dests(spec)
    assert m["/s"]["type"] == "bind" and "ro" in m["/s"]["options"]
    assert m["/scratch"]["type"] == "tmpfs" and "size=1048576" in m["/scratch"]["options"]
    assert "mode=1777" in m["/scratch"]["options"]
    assert "size=64k" in m["/run"]["options"]


def test_duplicate_mount_point():
    with pytest.raises(InvalidParameter, match="Duplicate mount point"):
        gen(host={"Binds": ["/a:/x"], "Tmpfs": {"/x": ""}})


def test_unsupported_mount_type():
    with pytest.raises(InvalidParameter, match="not supported"):
        gen(host={"Mounts": [{"Type": "npipe", "Source": "v", "Target": "/v"}]})


def test_readonly_rootfs():
    spec = gen(host={"ReadonlyRootfs": True})
    assert spec["root"]["readonly"] is True


def test_shm_size():
    spec = gen(host={"ShmSize": 1 << 20})
    assert f"size={1 << 20}" in dests(spec)["/dev/shm"]["options"]


def test_init_binds_tini():
    spec = gen({"Cmd": ["sleep", "1"]}, host={"Init": True})
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    assert dests(spec)["/sbin/docker-init"]["source"] in sp.HOST_INITS
    spec = gen({"Cmd": ["true"]}, host={"Init": True}, init_path="/opt/tini")
    assert dests(spec)["/sbin/docker-init"]["source"] == "/opt/tini"


# --- resources and security -----------------------------------------------------------

def test_resources():
    spec = gen(host={"Memory": 64 << 20, "NanoCpus": 1_500_000_000, "CpuShares": 512,
                     "CpusetCpus": "0", "PidsLimit": 50, "OomKillDisable": True})
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "disableOOMKiller": True}
    assert res["cpu"] == {"period": 100000, "quota": 150000, "shares": 512, "cpus": "0"}
    assert res["pids"] == {"limit": 50}
    assert res["devices"][0] == {"allow": False, "access": "rwm"}


def test_memory_swap():
    assert gen(host={"Memory": 100, "MemorySwap": -1})["linux"]["resources"]["memory"][
        "swap"] == -1
    assert gen(host={"Memory": 100, "MemorySwap": 300})["linux"]["resources"]["memory"][
        "swap"] == 300
    with pytest.raises(InvalidParameter, match="memoryswap"):
        gen(host={"Memory": 100, "MemorySwap": 50})


def test_pids_limit_unlimited():
    assert "pids" not in gen(host={"PidsLimit": -1})["linux"]["resources"]


def test_ulimits():
    spec = gen(host={"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]})
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048,
                                           "soft": 1024}]
    with pytest.raises(InvalidParameter, match="ulimit"):
        gen(host={"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]})


def test_caps():
    spec = gen(host={"CapAdd": ["NET_ADMIN"], "CapDrop": ["chown", "CAP_KILL"]})
    caps = spec["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    spec = gen(host={"CapDrop": ["ALL"], "CapAdd": ["CHOWN"]})
    assert spec["process"]["capabilities"]["effective"] == ["CAP_CHOWN"]
    with pytest.raises(InvalidParameter, match="unknown capability"):
        gen(host={"CapAdd": ["NOPE"]})


def test_privileged():
    spec = gen(host={"Privileged": True})
    assert len(spec["process"]["capabilities"]["bounding"]) > 30
    assert "seccomp" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_security_opts():
    spec = gen(host={"SecurityOpt": ["no-new-privileges", "seccomp=unconfined"]})
    assert spec["process"]["noNewPrivileges"] is True
    assert "seccomp" not in spec["linux"]
    assert "seccomp" in gen()["linux"]
    spec = gen(host={"SecurityOpt": ["no-new-privileges:true", "apparmor=docker-default"]})
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["apparmorProfile"] == "docker-default"
    with pytest.raises(InvalidParameter):
        gen(host={"SecurityOpt": ["bogus=1"]})


def test_seccomp_profile_file():
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]}
    spec = gen(host={"SecurityOpt": ["seccomp=/p.json"]}, seccomp_profile=profile)
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ALLOW"


def test_devices():
    spec = gen(host={"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n0",
                                  "CgroupPermissions": "rw"}]})
    assert spec["linux"]["devices"][0]["path"] == "/dev/n0"
    assert spec["linux"]["devices"][0]["major"] == 1
    assert spec["linux"]["resources"]["devices"][-1]["access"] == "rw"
    with pytest.raises(InvalidParameter):
        gen(host={"Devices": [{"PathOnHost": "/dev/does-not-exist"}]})


def test_sysctls_oom_score():
    spec = gen(host={"Sysctls": {"net.core.somaxconn": "1024"}, "OomScoreAdj": 500})
    assert spec["linux"]["sysctl"]["net.core.somaxconn"] == "1024"
    assert spec["process"]["oomScoreAdj"] == 500


def test_network_modes():
    def ns(spec):
        return {n["type"]: n for n in spec["linux"]["namespaces"]}

    assert "path" not in ns(gen(host={"NetworkMode": "none"}))["network"]
    host = gen(host={"NetworkMode": "host"})
    assert "network" not in ns(host) and "uts" not in ns(host)
    assert not any(k.startswith("net.") for k in host["linux"]["sysctl"])
    bridged = gen(netns_path="/run/netns/x")
    assert ns(bridged)["network"]["path"] == "/run/netns/x"


# --- names, restart policy, logs ------------------------------------------------------

@pytest.mark.parametrize("good", ["ab", "/web", "a.b-c_d", "A1"])
def test_valid_names(good):
    assert names.validate(good) == "/" + good.lstrip("/")


@pytest.mark.parametrize("bad", ["a", "-ab", "a b", "a/b", "", "_ab", "é1"])
def test_invalid_names(bad):
    with pytest.raises(InvalidParameter, match="Invalid container name"):
        names.validate(bad)


def test_generated_names_are_valid():
    for retry in range(50):
        names.validate(names.generate(retry % 2))


def test_restart_policy():
    assert c.parse_restart_policy({"Name": "on-failure", "MaximumRetryCount": 2}) == (
        "on-failure", 2)
    assert c.parse_restart_policy({"Name": "on-failure:3"}) == ("on-failure", 3)
    assert c.parse_restart_policy(None) == ("no", 0)
    with pytest.raises(InvalidParameter):
        c.parse_restart_policy({"Name": "sometimes"})
    with pytest.raises(InvalidParameter):
        c.parse_restart_policy({"Name": "always", "MaximumRetryCount": 2})
    assert c.should_restart(("on-failure", 2), 1, 1, False)
    assert not c.should_restart(("on-failure", 2), 1, 2, False)
    assert not c.should_restart(("on-failure", 0), 0, 0, False)
    assert c.should_restart(("always", 0), 0, 9, False)
    assert not c.should_restart(("always", 0), 0, 0, True)
    assert not c.should_restart(("no", 0), 1, 0, False)


def test_backoff():
    assert c.next_backoff(0, 0) == 0.1
    assert c.next_backoff(0.1, 1) == 0.2
    assert c.next_backoff(0.4, 1) == 0.8
    assert c.next_backoff(0.8, 11) == 0.1
    assert c.next_backoff(50, 1) == 60


def test_human_status():
    now = jsonlog.parse_time_ns("2024-01-01T00:01:00Z")
    st = {"Status": "exited", "ExitCode": 3, "FinishedAt": "2024-01-01T00:00:00Z"}
    assert c.human_status(st, now) == "Exited (3) About a minute ago"
    st = {"Status": "running", "StartedAt": "2024-01-01T00:00:55.5Z"}
    assert c.human_status(st, now) == "Up 4 seconds"
    assert c.human_status({"Status": "created"}, now) == "Created"


def test_parse_signal():
    assert c.parse_signal("TERM") == 15
    assert c.parse_signal("SIGKILL") == 9
    assert c.parse_signal("10") == 10
    with pytest.raises(InvalidParameter):
        c.parse_signal("NOPE")


def test_json_file_writer_and_rotation(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = jsonlog.JSONFileWriter(path, max_size=200, max_file=3)
    w.write("stdout", b"hel")
    w.write("stdout", b"lo\nwor")
    w.write("stderr", b"oops\n")
    for i in range(10):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    files = jsonlog.log_files(path)
    assert 1 < len(files) <= 3
    entries = list(jsonlog.read_entries(path))
    logs = [e["log"] for e in entries]
    assert logs[-1] == "line 9\n"
    assert all(e["time"].endswith("Z") for e in entries)
    assert len(files) == 3  # oldest rotated away
    w = jsonlog.JSONFileWriter(str(tmp_path / "b.log"))
    w.write("stdout", b"a\nb")
    w.close()
    assert [e["log"] for e in jsonlog.read_entries(str(tmp_path / "b.log"))] == ["a\n", "b"]


def test_rfc3339nano_roundtrip():
    ns = 1_700_000_000_123_456_789
    text = jsonlog.rfc3339nano(ns)
    assert text == "2023-11-14T22:13:20.123456789Z"
    assert jsonlog.parse_time_ns(text) == ns
    assert jsonlog.parse_time_ns("2023-11-14T23:13:20+01:00") == 1_700_000_000 * 10**9


def test_resolv_conf_drops_loopback(monkeypatch):
    text = c.resolv_conf({"Dns": ["1.1.1.1"], "DnsSearch": ["x.org"]}, "default")
    assert "nameserver 1.1.1.1" in text and "search x.org" in text

"""config.json fields, each checked from inside the container (``sh -c`` and its stdout)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import oci
from hostprobe import mountinfo, parse_status

pytestmark = pytest.mark.root

# --- process ---------------------------------------------------------------------------------

CAPS_SCRIPT = "grep ^Cap /proc/self/status"


def caps_of(out: str) -> dict[str, set[str]]:
    st = parse_status(out)
    return {k: oci.cap_names(st[k]) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


BND = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID"]
INH = ["CAP_KILL", "CAP_NET_RAW"]
PRM = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID"]
EFF = ["CAP_CHOWN", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"]
AMB = ["CAP_KILL"]


def _capsets(cfg: dict) -> dict:
    cfg["process"]["capabilities"] = {
        "bounding": BND,
        "inheritable": INH,
        "permitted": PRM,
        "effective": EFF,
        "ambient": AMB,
    }
    return cfg


def test_capabilities_root(runtime, config):
    """uid 0: execve makes permitted = effective = bounding | inheritable (file caps are 'all')."""
    caps = caps_of(runtime.sh_ok(CAPS_SCRIPT, _capsets(config())))
    assert caps["CapBnd"] == set(BND)
    assert caps["CapInh"] == set(INH)
    assert caps["CapAmb"] == set(AMB)
    assert caps["CapPrm"] == set(BND) | set(INH)
    assert caps["CapEff"] == set(BND) | set(INH)


def test_capabilities_non_root_ambient(runtime, config):
    """uid 1000: after execve, permitted = effective = ambient; each set is visible."""
    cfg = _capsets(config())
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    caps = caps_of(runtime.sh_ok(CAPS_SCRIPT, cfg))
    assert caps["CapBnd"] == set(BND)
    assert caps["CapInh"] == set(INH)
    assert caps["CapAmb"] == set(AMB)
    assert caps["CapPrm"] == set(AMB)
    assert caps["CapEff"] == set(AMB)


def test_capabilities_default(runtime, config):
    caps = caps_of(runtime.sh_ok(CAPS_SCRIPT, config()))
    assert caps["CapBnd"] == caps["CapEff"] == caps["CapPrm"] == set(oci.DEFAULT_CAPS)
    assert caps["CapInh"] == caps["CapAmb"] == set()


def test_user_and_groups(runtime, config):
    cfg = config()
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 65534]}
    out = runtime.sh_ok("id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups)' /proc/self/status", cfg)
    lines = out.splitlines()
    assert lines[0] == "1000"
    assert lines[1] == "1000"
    assert set(lines[2].split()) == {"1000", "5", "65534"}
    st = parse_status("\n".join(lines[3:]))
    assert st["Uid"].split() == ["1000"] * 4
    assert st["Gid"].split() == ["1000"] * 4
    assert sorted(st["Groups"].split()) == ["5", "65534"]


def test_user_root_has_no_supplementary_groups(runtime, config):
    st = parse_status(runtime.sh_ok("cat /proc/self/status", config()))
    assert st["Uid"].split() == ["0"] * 4
    assert st["Groups"] == ""


@pytest.mark.parametrize(("umask", "want"), [(None, "0022"), (0o027, "0027"), (0, "0000")])
def test_umask(runtime, config, umask, want):
    cfg = config()
    if umask is not None:
        cfg["process"]["user"]["umask"] = umask
    assert runtime.sh_ok("umask", cfg).strip() == want


def test_hostname(runtime, config):
    cfg = config()
    cfg["hostname"] = "dy-host"
    assert runtime.sh_ok("hostname; cat /proc/sys/kernel/hostname", cfg).split() == ["dy-host"] * 2


def test_domainname(runtime, config):
    cfg = config()
    cfg["domainname"] = "dy.example"
    out = runtime.sh_ok("cat /proc/sys/kernel/domainname", cfg).strip()
    if out == "(none)":
        runtime.skip_if_runc("1.1.5 ignores the domainname field (runc 1.2 added it)")
    assert out == "dy.example"


def test_env(runtime, config):
    cfg = config(env=["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "HOME=/root"])
    out = runtime.sh_ok("env", cfg)
    env = set(out.splitlines())
    assert {"PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "HOME=/root"} <= env


@pytest.mark.parametrize("cwd", ["/", "/tmp", "/usr/bin"])
def test_cwd(runtime, config, cwd):
    assert runtime.sh_ok("pwd", config(cwd=cwd)).strip() == cwd


def test_rlimits(runtime, config):
    hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout)
    soft_n, hard_n = min(512, hard), min(1024, hard)
    cfg = config()
    cfg["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": soft_n, "hard": hard_n},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 4000, "hard": 5000},
    ]
    out = runtime.sh_ok("ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc; ulimit -u; ulimit -Hu", cfg)
    assert out.split() == [str(soft_n), str(hard_n), "0", "0", "4000", "5000"]


@pytest.mark.parametrize("nnp", [False, True])
def test_no_new_privileges(runtime, config, nnp):
    cfg = config()
    cfg["process"]["noNewPrivileges"] = nnp
    out = runtime.sh_ok("grep NoNewPrivs /proc/self/status", cfg)
    assert parse_status(out)["NoNewPrivs"] == ("1" if nnp else "0")


@pytest.mark.parametrize("adj", [None, 500, 1000])
def test_oom_score_adj(runtime, config, adj):
    cfg = config()
    if adj is not None:
        cfg["process"]["oomScoreAdj"] = adj
    expect = adj if adj is not None else int(Path("/proc/self/oom_score_adj").read_text())
    assert int(runtime.sh_ok("cat /proc/self/oom_score_adj", cfg)) == expect


# --- root and mounts -------------------------------------------------------------------------


def test_root_readonly(runtime, config):
    cfg = config()
    cfg["root"]["readonly"] = True
    script = (
        "touch /newfile 2>/dev/null && echo root-writable || echo root-ro;"
        "touch /dev/shm/x && echo shm-writable;"
        "cat /proc/self/mountinfo"
    )
    out = runtime.sh_ok(script, cfg).splitlines()
    assert out[:2] == ["root-ro", "shm-writable"]
    assert "ro" in _mount_of(mountinfo("\n".join(out[2:])), "/")["mount_options"].split(",")


def test_root_writable_by_default(runtime, config, testctx):
    out = runtime.sh_ok("echo data > /newfile && cat /newfile", config())
    assert out == "data\n"


def _mount_of(info: list[dict], mountpoint: str) -> dict:
    found = [m for m in info if m["mountpoint"] == mountpoint]
    assert found, f"{mountpoint} not mounted"
    return found[-1]


def test_bind_mounts(runtime, config, testctx):
    src = testctx.tmp / "hostdir"
    src.mkdir()
    (src / "file").write_text("from-host\n")
    rw = testctx.tmp / "hostrw"
    rw.mkdir()
    cfg = config()
    cfg["mounts"] += [
        {"destination": "/mnt/ro", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {"destination": "/mnt/rw", "type": "none", "source": str(rw), "options": ["bind", "rw"]},
        {
            "destination": "/mnt/file",
            "type": "bind",
            "source": str(src / "file"),
            "options": ["bind", "ro", "nosuid", "nodev", "noexec"],
        },
    ]
    script = (
        "cat /mnt/ro/file; cat /mnt/file;"
        "touch /mnt/ro/x 2>/dev/null && echo ro-writable || echo ro-refused;"
        "echo written > /mnt/rw/out;"
        "cat /proc/self/mountinfo"
    )
    out = runtime.sh_ok(script, cfg).splitlines()
    assert out[:3] == ["from-host", "from-host", "ro-refused"]
    assert (rw / "out").read_text() == "written\n"
    assert not (src / "x").exists()
    info = mountinfo("\n".join(out[3:]))
    assert "ro" in _mount_of(info, "/mnt/ro")["mount_options"].split(",")
    assert "rw" in _mount_of(info, "/mnt/rw")["mount_options"].split(",")
    opts = _mount_of(info, "/mnt/file")["mount_options"].split(",")
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(opts)


def test_tmpfs_mount_size_mode(runtime, config):
    cfg = config()
    cfg["mounts"].append(
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "size=1m", "mode=0710"],
        }
    )
    out = runtime.sh_ok("stat -c %a /scratch; cat /proc/self/mountinfo", cfg).splitlines()
    assert out[0] == "710"
    m = _mount_of(mountinfo("\n".join(out[1:])), "/scratch")
    assert m["fstype"] == "tmpfs"
    assert {"size=1024k", "mode=710"} <= set(m["super_options"].split(","))
    assert {"nosuid", "nodev"} <= set(m["mount_options"].split(","))


def test_default_mounts(runtime, config):
    cfg = config()
    info = mountinfo(runtime.sh_ok("cat /proc/self/mountinfo", cfg))
    types = {m["mountpoint"]: m["fstype"] for m in info}
    assert types["/proc"] == "proc"
    assert types["/dev"] == "tmpfs"
    assert types["/dev/pts"] == "devpts"
    assert types["/dev/shm"] == "tmpfs"
    assert types["/dev/mqueue"] == "mqueue"
    assert types["/sys"] == "sysfs"
    assert "ro" in _mount_of(info, "/sys")["mount_options"].split(",")
    # nothing else: none of the host's other mounts is visible
    allowed = {"/", *(m["destination"] for m in cfg["mounts"])}
    allowed |= set(cfg["linux"]["maskedPaths"]) | set(cfg["linux"]["readonlyPaths"])
    assert set(types) <= allowed, set(types) - allowed


@pytest.fixture
def shared_mount(testctx):
    """A host tmpfs under the test dir, made shared (propagation needs a shared source)."""
    path = testctx.tmp / "shared"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "dytest", path], check=True)
    try:
        subprocess.run(["mount", "--make-shared", path], check=True)
        (path / "hello").write_text("hi\n")
        yield path
    finally:
        subprocess.run(["umount", "-R", path], check=False)


@pytest.mark.parametrize(
    ("option", "expect"),
    # rshared of a bind whose source is a slave inside the container: shared (+ master)
    [("rprivate", set()), ("rslave", {"master"}), ("rshared", {"shared", "master"})],
)
def test_mount_propagation(runtime, config, shared_mount, option, expect):
    cfg = config()
    cfg["mounts"].append(
        {
            "destination": "/mnt/p",
            "type": "bind",
            "source": str(shared_mount),
            "options": ["rbind", option],
        }
    )
    out = runtime.sh_ok("cat /mnt/p/hello; cat /proc/self/mountinfo", cfg).splitlines()
    assert out[0] == "hi"
    m = _mount_of(mountinfo("\n".join(out[1:])), "/mnt/p")
    kinds = {field.split(":")[0] for field in m["optional"]}
    assert kinds == expect or (option == "rshared" and kinds == {"shared"}), m["optional"]


def test_slave_mount_receives_host_mounts(runtime, config, shared_mount, testctx):
    """rslave: a mount made on the host after start shows up inside the container."""
    cfg = config()
    cfg["mounts"].append(
        {
            "destination": "/mnt/p",
            "type": "bind",
            "source": str(shared_mount),
            "options": ["rbind", "rslave"],
        }
    )
    script = "echo ready; read x < /tmp/go; cat /mnt/p/sub/inner"
    b = testctx.bundle(oci.sh(cfg, "mkfifo /tmp/go; " + script))
    cid = runtime.create(b)
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    sub = shared_mount / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "dyinner", sub], check=True)
    (sub / "inner").write_text("propagated\n")
    with open(b / "rootfs/tmp/go", "w") as f:
        f.write("go\n")
    assert runtime.out[cid].readline() == "propagated"
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


@pytest.mark.parametrize(("prop", "expect"), [("private", set()), ("shared", {"shared"})])
def test_rootfs_propagation(runtime, config, prop, expect):
    cfg = config()
    cfg["linux"]["rootfsPropagation"] = prop
    r = runtime.sh("cat /proc/self/mountinfo", cfg)
    assert r.returncode == 0, r.stderr
    root = _mount_of(mountinfo(r.stdout), "/")
    kinds = {f.split(":")[0] for f in root["optional"]}
    if kinds != expect and prop == "shared":
        runtime.skip_if_runc("1.1.5 fails rootfsPropagation=shared (runtime-tools too)")
    assert kinds == expect, root["optional"]


# --- masked and read-only paths ----------------------------------------------------------------


def _existing(paths):
    return [p for p in paths if os.path.exists(p)]


def test_masked_paths(runtime, config):
    """Masked files read as empty (a /dev/null bind), masked directories are empty and ro.

    Only paths that exist on this kernel are checked (runc skips the others too).
    """
    files = [p for p in _existing(oci.MASKED_PATHS) if not os.path.isdir(p)]
    dirs = [p for p in _existing(oci.MASKED_PATHS) if os.path.isdir(p)]
    assert files and dirs
    script = "".join(f"echo $(cat {f} | wc -c) $(stat -c %t:%T {f});" for f in files)
    script += "".join(
        f"echo $(ls -A {d} | wc -l) $(touch {d}/x 2>/dev/null && echo rw || echo ro);" for d in dirs
    )
    out = runtime.sh_ok(script, config()).splitlines()
    assert out[: len(files)] == ["0 1:3"] * len(files), dict(zip(files, out, strict=False))
    assert out[len(files) :] == ["0 ro"] * len(dirs), dict(
        zip(dirs, out[len(files) :], strict=False)
    )


def test_unmasked_paths_control(runtime, config):
    """Control for test_masked_paths: without maskedPaths the same files have content."""
    files = [p for p in _existing(oci.MASKED_PATHS) if not os.path.isdir(p)]
    cfg = config()
    cfg["linux"]["maskedPaths"] = []
    out = runtime.sh_ok("".join(f"cat {f} | wc -c;" for f in files), cfg).split()
    assert all(int(n) > 0 for n in out), dict(zip(files, out, strict=False))


def _with_net_admin(cfg: dict) -> dict:
    # writing net.* sysctls of one's own netns needs CAP_NET_ADMIN: without it the
    # read-only check below would pass for the wrong reason
    for s in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][s].append("CAP_NET_ADMIN")
    return cfg


def test_readonly_paths(runtime, config):
    script = "echo 1 > /proc/sys/net/ipv4/ip_forward; cat /proc/self/mountinfo"
    if os.path.exists("/proc/sysrq-trigger"):
        script = "echo h > /proc/sysrq-trigger; " + script
    r = runtime.sh(script, _with_net_admin(config()))
    assert "Read-only file system" in r.stderr
    assert "sysrq" not in r.stderr or r.stderr.count("Read-only file system") == 2
    info = mountinfo(r.stdout)
    for path in _existing(oci.READONLY_PATHS):
        assert "ro" in _mount_of(info, path)["mount_options"].split(","), path


def test_readonly_paths_control(runtime, config):
    """Control: without readonlyPaths, /proc/sys/net of the container's own netns is writable."""
    cfg = _with_net_admin(config())
    cfg["linux"]["readonlyPaths"] = []
    script = "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward"
    assert runtime.sh_ok(script, cfg) == "1\n"


# --- devices -----------------------------------------------------------------------------------

DEFAULT_DEVICES = {
    "null": "1:3",
    "zero": "1:5",
    "full": "1:7",
    "random": "1:8",
    "urandom": "1:9",
    "tty": "5:0",
}


def test_default_devices(runtime, config):
    script = "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done"
    out = runtime.sh_ok(script, config()).splitlines()
    got = {}
    for line in out:
        name, rest = line.split(" ", 1)
        kind, majmin, mode = rest.rsplit(" ", 2)
        assert kind == "character special file", line
        assert mode == "666", line
        got[name.removeprefix("/dev/")] = majmin
    assert got == DEFAULT_DEVICES


def test_dev_symlinks(runtime, config):
    script = "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done"
    out = runtime.sh_ok(script, config()).split()
    assert out == [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ]


def test_default_devices_usable(runtime, config):
    script = (
        "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c;"
        "head -c 4 /dev/urandom | wc -c;"
        "echo x > /dev/full 2>/dev/null && echo full-wrote || echo full-refused"
    )
    assert runtime.sh_ok(script, config()).split() == ["null-ok", "4", "4", "full-refused"]


def test_custom_device(runtime, config):
    cfg = config()
    cfg["linux"]["devices"] = [
        {
            "path": "/dev/dytest",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o640,
            "uid": 1000,
            "gid": 5,
        }
    ]
    cfg["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    )
    out = runtime.sh_ok(
        "stat -c '%F %t:%T %a %u:%g' /dev/dytest; echo x > /dev/dytest && echo wrote", cfg
    )
    assert out.splitlines() == ["character special file 1:3 640 1000:5", "wrote"]


def test_device_cgroup_denies_others(runtime, config):
    """A block device made in the container (CAP_MKNOD) cannot be opened: deny-all rule."""
    script = (
        "mknod /tmp/loop b 7 0 && echo made;"
        "head -c 1 /tmp/loop >/dev/null 2>&1 && echo opened || echo denied"
    )
    assert runtime.sh_ok(script, config()).split() == ["made", "denied"]


# --- sysctl --------------------------------------------------------------------------------------


def test_sysctl(runtime, config):
    host_fwd = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    host_shmmax = Path("/proc/sys/kernel/shmmax").read_text()
    cfg = config()
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}
    out = runtime.sh_ok("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax", cfg)
    assert out.split() == ["1", "12345678"]
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_fwd
    assert Path("/proc/sys/kernel/shmmax").read_text() == host_shmmax


def test_network_namespace_has_only_loopback(runtime, config):
    out = runtime.sh_ok("ls /sys/class/net; ip -o link show lo", config())
    lines = out.splitlines()
    assert lines[0] == "lo"
    assert len([x for x in lines if not x.startswith(" ")]) == 2


def test_loopback_is_up(runtime, config):
    """A new netns gets lo up (runc does it): TCP over 127.0.0.1 works."""
    script = (
        "ip -o link show lo; nc -l -p 5555 > /tmp/got & "
        "for i in $(seq 300); do echo over-lo | nc 127.0.0.1 5555 2>/dev/null && break; "
        "usleep 10000; done; wait; cat /tmp/got"
    )
    out = runtime.sh_ok(script, config()).splitlines()
    assert ",UP" in out[0]
    assert out[-1] == "over-lo"


def test_dev_shm_and_mqueue_writable(runtime, config):
    out = runtime.sh_ok("echo x > /dev/shm/f && cat /dev/shm/f; stat -c %a /dev/shm", config())
    assert out.split() == ["x", "1777"]


def test_proc_is_the_containers(runtime, config):
    out = runtime.sh_ok("echo $$; ls -d /proc/[0-9]* | wc -l", config()).split()
    assert out[0] == "1"
    assert int(out[1]) <= 3  # sh, ls, wc

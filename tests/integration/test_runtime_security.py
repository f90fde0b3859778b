"""Security defaults and regressions of known runtime escapes.

CVE-2024-21626 (leaked fds, cwd in /proc/self/fd), CVE-2019-5736 (overwriting the host
runtime through /proc/<pid>/exe), CVE-2019-14271 (host code loading container files),
no CAP_SYS_ADMIN by default, seccomp (a custom profile and Docker's default profile).

Attack probes only ever *open* host files for appending, never write to them, and the
host files' hashes are compared before and after.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import oci
from hostprobe import parse_status

pytestmark = pytest.mark.root


# --- helpers -----------------------------------------------------------------------------------


def run_with_fds(runtime, args, fds=range(3, 9), **kw) -> subprocess.CompletedProcess:
    """Run the runtime CLI with ``fds`` open on the host's ``/`` (a careless caller's leak)."""
    redirs = " ".join(f"{n}</" for n in fds)
    cmd = ["/bin/sh", "-c", f'exec "$@" {redirs}', "sh", *runtime.cmd(*args)]
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, text=True, timeout=30, **kw)


def host_runtime_files(runtime) -> list[Path]:
    """The host files a container must never be able to write: the runtime binary and,
    for a script, its interpreter (for dockyard-runtime: the host's python)."""
    files = {Path(runtime.binary).resolve(), Path(sys.executable).resolve()}
    with open(runtime.binary, "rb") as f:
        head = f.read(256)
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n")[0].decode().split()
        interp = words[0]
        if interp.endswith("/env") and len(words) > 1:
            interp = shutil.which(words[1]) or words[1]
        files.add(Path(interp).resolve())
    return sorted(files)


def digests(paths) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def fds_of_shell(out: str) -> list[str]:
    """fd numbers from ``ls -l /proc/$$/fd`` output."""
    fds = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 9 and parts[0].startswith("l"):
            fds.append(parts[8])
    return fds


# --- CVE-2024-21626 ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(3, 9))
def test_cwd_in_leaked_fd_is_refused(runtime, testctx, n):
    cfg = testctx.config(cwd=f"/proc/self/fd/{n}")
    b = testctx.bundle(oci.sh(cfg, "echo ESCAPED; pwd; ls ../../.."))
    cid = runtime.track(testctx.new_id())
    r = run_with_fds(runtime, ["run", "--bundle", b, cid])
    assert r.returncode != 0, r.stdout
    assert "ESCAPED" not in r.stdout
    assert runtime.cli("state", cid).returncode != 0


def test_no_fd_leaks_into_the_container(runtime, testctx):
    cfg = testctx.config()
    b = testctx.bundle(oci.sh(cfg, "ls -l /proc/$$/fd; true"))
    cid = runtime.track(testctx.new_id())
    r = run_with_fds(runtime, ["run", "--bundle", b, cid])
    assert r.returncode == 0, r.stderr
    assert fds_of_shell(r.stdout) == ["0", "1", "2"], r.stdout


def test_no_fd_leaks_into_exec(runtime, testctx):
    b = testctx.bundle(oci.sh(testctx.config(), "mkfifo /tmp/go; echo ready; read x < /tmp/go"))
    cid = runtime.create(b)
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    r = run_with_fds(runtime, ["exec", cid, "sh", "-c", "ls -l /proc/$$/fd; true"])
    assert r.returncode == 0, r.stderr
    assert fds_of_shell(r.stdout) == ["0", "1", "2"], r.stdout
    for n in range(3, 9):
        r = run_with_fds(
            runtime, ["exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c", "echo ESCAPED"]
        )
        assert r.returncode != 0 and "ESCAPED" not in r.stdout, n
    with open(b / "rootfs/tmp/go", "w") as f:
        f.write("go\n")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_init_has_no_extra_fds_in_created_state(runtime, testctx):
    """Beyond stdio, the created init holds only runtime-internal handles: pipes, sockets,
    anonymous inodes, memfds, /dev/null and files in the runtime's own state dir (runc's
    exec.fifo). Nothing on the host's filesystem, and certainly not the leaked ``/``."""
    cfg = testctx.config()
    b = testctx.bundle(oci.sh(cfg, "true"))
    cid = runtime.track(testctx.new_id())
    out, err = testctx.tmp / "create.out", testctx.tmp / "create.err"
    with open(out, "w") as f, open(err, "w") as g:
        # files, not pipes: the created init keeps its stdio open
        r = run_with_fds(runtime, ["create", "--bundle", b, cid], stdout=f, stderr=g)
    assert r.returncode == 0, err.read_text()
    pid = runtime.state(cid)["pid"]
    allowed = (str(runtime.root) + "/", "/memfd:", "/dev/null")
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if int(fd) > 2:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            assert not target.startswith("/") or target.startswith(allowed), (fd, target)
    runtime.delete(cid)


# --- CVE-2019-5736 -----------------------------------------------------------------------------

# Holds /proc/1/exe (the runtime's init while the container is 'created') open read-only,
# then, once the init has exec'd the user program, tries to reopen it for appending.
HOLD_AND_REOPEN = """
if { command exec 3</proc/1/exe; } 2>/dev/null; then echo holding; else echo no-read-access; fi
read x < /tmp/attack-go
if { command exec 4>>/proc/self/fd/3; } 2>/dev/null; then echo WRITABLE; else echo refused; fi
{ command exec 5>>/proc/1/exe; } 2>/dev/null && echo WRITABLE-NOW
echo end
"""


def test_cve_2019_5736_created_init(runtime, testctx):
    files = host_runtime_files(runtime)
    before = digests(files)
    b = testctx.bundle(oci.sh(testctx.config(), "echo started; read x < /tmp/go"))
    for fifo in ("go", "attack-go"):
        os.mkfifo(b / "rootfs/tmp" / fifo)
    cid = runtime.create(b)
    attacker = runtime.exec_detached(cid, "sh", "-c", HOLD_AND_REOPEN)
    first = attacker.readline()
    assert first in ("holding", "no-read-access")
    runtime.start(cid)
    assert runtime.out[cid].readline() == "started"
    with open(b / "rootfs/tmp/attack-go", "w") as f:
        f.write("go\n")
    rest = []
    while (line := attacker.readline()) != "end":
        rest.append(line)
    assert "WRITABLE" not in rest and "WRITABLE-NOW" not in rest, rest
    with open(b / "rootfs/tmp/go", "w") as f:
        f.write("go\n")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    assert digests(files) == before


# Catches any process in the container's pid ns whose executable is not the container's
# busybox (i.e. a runtime process entering for `exec`), keeps it open, and later tries
# to reopen it for appending.
CATCH_EXEC = """
got=
echo ready
while [ ! -e /tmp/stop ]; do
  for p in /proc/[0-9]*; do
    [ "$p" = /proc/$$ ] && continue
    [ -z "$got" ] || break
    [ $p/exe -ef /bin/busybox ] && continue
    if { command exec 3<$p/exe; } 2>/dev/null; then got=$p; echo "got $p"; fi
  done
  if [ -n "$got" ] && { command exec 4>>/proc/self/fd/3; } 2>/dev/null; then
    echo WRITABLE; break
  fi
done
echo end
"""


def test_cve_2019_5736_runtime_exec(runtime, testctx):
    files = host_runtime_files(runtime)
    before = digests(files)
    b = testctx.bundle(oci.sh(testctx.config(), CATCH_EXEC))
    cid = runtime.create(b)
    runtime.start(cid)
    out = runtime.out[cid]
    assert out.readline() == "ready"
    for _ in range(15):
        assert runtime.exec(cid, "true").returncode == 0
    (b / "rootfs/tmp/stop").touch()
    lines = []
    while (line := out.readline(timeout=20)) != "end":
        lines.append(line)
    assert "WRITABLE" not in lines, lines
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    assert digests(files) == before


def test_runtime_exe_not_writable_from_exec_in_created_state(runtime, testctx):
    """A second exec into a created container probes pid 1 (the runtime's init) directly."""
    b = testctx.bundle(oci.sh(testctx.config(), "true"))
    cid = runtime.create(b)
    script = (
        "{ command exec 4>>/proc/1/exe; } 2>/dev/null && echo WRITABLE;"
        "{ command exec 5<>/proc/1/mem; } 2>/dev/null && echo MEM; echo end"
    )
    r = runtime.exec(cid, "sh", "-c", script)
    assert "WRITABLE" not in r.stdout.split(), r.stdout
    runtime.delete(cid, force=True)
    if "MEM" in r.stdout.split():
        runtime.skip_if_runc("the created init of 1.1.5 is dumpable: its /proc/1/mem opens rw")
    assert r.stdout.split() == ["end"], r.stdout


# --- CVE-2019-14271 ----------------------------------------------------------------------------

IN_ACCESS, IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x1, 0x20, 0o4000, 0o2000000
_libc = ctypes.CDLL(None, use_errno=True)


class Inotify:
    """Records opens of planted files (works across mount namespaces: it watches inodes)."""

    def __init__(self):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.paths: dict[int, Path] = {}

    def watch(self, path: Path) -> None:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", str(path))
        self.paths[wd] = path

    def events(self) -> list[str]:
        out = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i < len(data):
                wd, _mask, _cookie, size = struct.unpack_from("iIII", data, i)
                name = data[i + 16 : i + 16 + size].rstrip(b"\0").decode()
                out.append(str(self.paths[wd] / name) if name else str(self.paths[wd]))
                i += 16 + size

    def close(self) -> None:
        os.close(self.fd)


def python_dirs_of(interpreter: str) -> list[str]:
    """stdlib and site-packages dirs of a host python, as paths inside a rootfs."""
    code = "import sysconfig as s; p = s.get_paths(); print(p['stdlib']); print(p['purelib'])"
    r = subprocess.run([interpreter, "-I", "-S", "-c", code], capture_output=True, text=True)
    return r.stdout.split() if r.returncode == 0 else []


def plant(rootfs: Path, runtime, marker: Path) -> list[Path]:
    """Plant files that would run code (or be loaded) if the host side used the rootfs."""
    code = (
        "import os\n"
        f"for p in ({str(marker)!r}, '/tmp/pwned'):\n"
        "    try:\n"
        "        with open(p, 'a') as f:\n"
        "            f.write(__file__ + '\\n')\n"
        "    except OSError:\n"
        "        pass\n"
    )
    pydirs = {
        "/usr/lib/python3.11",
        "/usr/lib/python3/dist-packages",
        "/usr/local/lib/python3.11/dist-packages",
    }
    for f in host_runtime_files(runtime):
        if f.name.startswith("python"):
            pydirs.update(python_dirs_of(str(f)))
    planted = []
    for d in sorted(pydirs):
        for rel in (
            "sitecustomize.py",
            "usercustomize.py",
            "encodings/__init__.py",
            "json/__init__.py",
        ):
            planted.append(rootfs / d.lstrip("/") / rel)
            planted[-1].parent.mkdir(parents=True, exist_ok=True)
            planted[-1].write_text(code)
    garbage = b"\x7fELF garbage: loading this is a bug\n"
    for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"):
        for name in (
            "libnss_files.so.2",
            "libnss_dns.so.2",
            "libnss_compat.so.2",
            "libnss_dyhack.so.2",
            "libc.so.6",
        ):
            p = rootfs / d / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(garbage)
            planted.append(p)
    (rootfs / "etc/nsswitch.conf").write_text(
        "passwd: files dyhack\ngroup: files dyhack\nhosts: files dyhack\n"
    )
    (rootfs / "etc/ld.so.preload").write_text("/lib/x86_64-linux-gnu/libnss_dyhack.so.2\n")
    planted += [rootfs / "etc/nsswitch.conf", rootfs / "etc/ld.so.preload"]
    return planted


def test_cve_2019_14271_planted_files_never_used(runtime, testctx):
    marker = testctx.tmp / "pwned"
    b = testctx.bundle(oci.sh(testctx.config(), "mkfifo /tmp/go; echo ready; read x < /tmp/go"))
    planted = plant(b / "rootfs", runtime, marker)
    ino = Inotify()
    try:
        for p in planted:
            ino.watch(p)
        cid = runtime.create(b)
        runtime.state(cid)
        runtime.start(cid)
        assert runtime.out[cid].readline() == "ready"
        assert runtime.exec(cid, "true").returncode == 0
        assert runtime.exec(cid, "id", flags=["--user", "1000:1000"]).returncode == 0
        assert runtime.exec(cid, "id", flags=["--cwd", "/tmp", "--env", "A=b"]).returncode == 0
        runtime.cli("ps", cid, check=True)
        runtime.cli("pause", cid, check=True)
        runtime.cli("resume", cid, check=True)
        runtime.kill(cid, "KILL")
        runtime.wait_status(cid, "stopped")
        runtime.delete(cid)
        r = runtime.run(testctx.bundle(oci.sh(testctx.config(), "true"), name="second"))
        assert r.returncode == 0
        opened = ino.events()
    finally:
        ino.close()
    assert not opened, f"the runtime opened planted files: {sorted(set(opened))}"
    assert not marker.exists(), marker.read_text()
    assert not (b / "rootfs/tmp/pwned").exists()


# --- capabilities and seccomp --------------------------------------------------------------------


def test_no_cap_sys_admin_by_default(runtime, config):
    script = (
        "grep ^CapEff /proc/self/status;"
        "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED || echo mount-refused;"
        "unshare -m true 2>/dev/null && echo UNSHARED || echo unshare-refused"
    )
    out = runtime.sh_ok(script, config()).splitlines()
    caps = oci.cap_names(parse_status(out[0])["CapEff"])
    assert "CAP_SYS_ADMIN" not in caps
    assert caps == set(oci.DEFAULT_CAPS)
    assert out[1:] == ["mount-refused", "unshare-refused"]


DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


@pytest.mark.parametrize("nnp", [False, True])
def test_seccomp_custom_profile(runtime, config, nnp):
    cfg = config()
    cfg["process"]["noNewPrivileges"] = nnp
    cfg["linux"]["seccomp"] = DENY_MKDIR
    script = (
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/d;"
        "touch /tmp/f && echo touched"
    )
    r = runtime.sh(script, cfg)
    st = parse_status(r.stdout)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == ("1" if nnp else "0")
    assert "Operation not permitted" in r.stderr
    assert "touched" in r.stdout


def test_seccomp_errno_ret(runtime, config):
    cfg = config()
    profile = json.loads(json.dumps(DENY_MKDIR))
    profile["syscalls"][0]["errnoRet"] = 28  # ENOSPC
    cfg["linux"]["seccomp"] = profile
    r = runtime.sh("mkdir /tmp/d", cfg)
    assert r.returncode != 0
    assert "No space left on device" in r.stderr


def with_host_usr(cfg: dict, rootfs_links: bool = True) -> dict:
    """Make the host's /usr (and so its python3) usable read-only inside the container."""
    cfg["mounts"].append(
        {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}
    )
    return cfg


def link_host_libs(rootfs: Path) -> None:
    for name in ("lib", "lib64"):
        if not (rootfs / name).exists() and os.path.isdir(f"/usr/{name}"):
            (rootfs / name).symlink_to(f"usr/{name}")


# prints the errno of keyctl, unshare(CLONE_NEWUSER), mount and clone3 (0 = allowed)
SYSCALL_PROBE = (
    "import ctypes\n"
    "l = ctypes.CDLL(None, use_errno=True)\n"
    "def e(*a):\n"
    "    ctypes.set_errno(0)\n"
    "    r = l.syscall(*a)\n"
    "    return ctypes.get_errno() if r == -1 else 0\n"
    "print('keyctl', e(250, 0, -3, 0))\n"  # KEYCTL_GET_KEYRING_ID of the session keyring
    "print('mount', e(165, b'none', b'/tmp', b'tmpfs', 0, None))\n"
    "print('clone3', e(435, None, 0))\n"
    "print('unshare', e(272, 0x10000000))\n"  # CLONE_NEWUSER (needs no capability): last
)


def probe(runtime, testctx, cfg) -> dict[str, int]:
    with_host_usr(cfg)
    oci.set_args(cfg, "/usr/bin/python3", "-I", "-S", "-c", SYSCALL_PROBE)
    b = testctx.bundle(cfg)
    link_host_libs(b / "rootfs")
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    return {k: int(v) for k, v in (line.split() for line in r.stdout.splitlines())}


def _add_caps(cfg, *caps):
    for s in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][s] += list(caps)


@pytest.fixture
def docker_seccomp():
    if oci.moby_profile_path() is None:
        pytest.skip("moby-seccomp-default.json not found (set DOCKYARD_MOBY_SECCOMP)")
    return oci.docker_seccomp(oci.DEFAULT_CAPS)


def test_docker_seccomp_denies(runtime, testctx, docker_seccomp):
    cfg = testctx.config()
    _add_caps(cfg, "CAP_SYS_ADMIN")  # so that only seccomp can refuse mount
    cfg["linux"]["seccomp"] = docker_seccomp
    got = probe(runtime, testctx, cfg)
    assert got == {"keyctl": 1, "unshare": 1, "mount": 1, "clone3": 38}


def test_docker_seccomp_control(runtime, testctx):
    """Control for test_docker_seccomp_denies: the same probe without a profile."""
    cfg = testctx.config()
    _add_caps(cfg, "CAP_SYS_ADMIN")
    got = probe(runtime, testctx, cfg)
    assert got["keyctl"] == 0 and got["unshare"] == 0 and got["mount"] == 0
    assert got["clone3"] != 38


def test_docker_seccomp_busybox(runtime, config, docker_seccomp):
    cfg = config()
    cfg["linux"]["seccomp"] = docker_seccomp
    script = (
        "grep ^Seccomp: /proc/self/status;"
        "unshare -U true 2>/dev/null && echo UNSHARED || echo unshare-refused;"
        "echo still-working; ls / >/dev/null && echo ls-ok"
    )
    assert runtime.sh_ok(script, cfg).split() == [
        "Seccomp:",
        "2",
        "unshare-refused",
        "still-working",
        "ls-ok",
    ]


def test_spec_default_profile_denies(runtime, testctx):
    """`spec` writes Docker's defaults, seccomp included: run it on the busybox rootfs."""
    if runtime.is_runc:
        pytest.skip("runc's `spec` has no seccomp profile (dockyard-runtime's must)")
    d = testctx.tmp / "specbundle"
    d.mkdir()
    runtime.cli("spec", "--bundle", d, check=True)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["linux"].get("seccomp"), "spec: no linux.seccomp"
    cfg["process"]["terminal"] = False
    cfg["root"] = {"path": "rootfs", "readonly": False}
    cfg["linux"]["cgroupsPath"] = testctx.cgroup_name()
    script = (
        "grep ^Seccomp: /proc/self/status;"
        "unshare -U true 2>/dev/null && echo UNSHARED || echo refused"
    )
    oci.sh(cfg, script)
    b = testctx.bundle(cfg)
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Seccomp:", "2", "refused"]

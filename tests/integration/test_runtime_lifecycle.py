"""Lifecycle of the runtime CLI: create/start/state/kill/delete, run, exec, ps, pause, list..."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

import oci
from hostprobe import cgroup_dir, parse_status, pid_alive, status_field, wait_for

pytestmark = pytest.mark.root

# A container that says "ready" and then waits until the host writes a line to /tmp/go.
WAIT_GO = "mkfifo /tmp/go; echo ready; read x < /tmp/go; echo bye"


def release(bundle: Path) -> None:
    """Let a WAIT_GO container finish: write a line to its /tmp/go fifo."""
    fd = os.open(bundle / "rootfs/tmp/go", os.O_WRONLY)
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)


def test_create_start_state_delete(runtime, bundle, config):
    b = bundle(oci.sh(config(), WAIT_GO))
    cid = runtime.create(b)
    st = runtime.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid
    assert st["bundle"] == str(b)
    assert st["ociVersion"]
    assert st["pid"] > 0 and pid_alive(st["pid"])
    # created: the user program has not run yet
    assert runtime.out[cid].quiet_for(0.05)

    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    st = runtime.state(cid)
    assert st["status"] == "running"
    # start twice: error, no effect
    r = runtime.start(cid, check=False)
    assert r.returncode != 0
    assert runtime.state(cid)["status"] == "running"

    release(b)
    assert runtime.out[cid].read() == "bye\n"
    st = runtime.wait_status(cid, "stopped")
    assert not st.get("pid") or not pid_alive(st["pid"])
    runtime.delete(cid)
    assert runtime.cli("state", cid).returncode != 0


def test_created_state_is_visible_to_exec_and_ps(runtime, bundle, config):
    cid = runtime.create(bundle(oci.sh(config(), "echo hi")))
    pid = runtime.state(cid)["pid"]
    r = runtime.cli("ps", "--format", "json", cid, check=True)
    assert pid in json.loads(r.stdout)
    runtime.delete(cid)
    assert runtime.cli("state", cid).returncode != 0
    wait_for(lambda: not pid_alive(pid))


def test_delete_running_needs_force(runtime, bundle, config):
    cid = runtime.create(bundle(oci.sh(config(), WAIT_GO)))
    runtime.start(cid)
    pid = runtime.state(cid)["pid"]
    r = runtime.delete(cid, check=False)
    assert r.returncode != 0
    assert runtime.state(cid)["status"] == "running"
    runtime.delete(cid, force=True)
    assert runtime.cli("state", cid).returncode != 0
    wait_for(lambda: not pid_alive(pid))


def test_delete_created_container(runtime, bundle, config):
    """runc deletes a created container without --force; so must we (engines rely on it)."""
    cid = runtime.create(bundle(oci.sh(config(), "echo never")))
    pid = runtime.state(cid)["pid"]
    runtime.delete(cid)
    wait_for(lambda: not pid_alive(pid))
    assert runtime.out[cid].read() == ""


@pytest.mark.parametrize("sig", ["TERM", "SIGTERM", "15"])
def test_kill_term_is_delivered(runtime, bundle, config, sig):
    script = 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 1 & wait; done'
    cid = runtime.create(bundle(oci.sh(config(), script)))
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    runtime.kill(cid, sig)
    assert runtime.out[cid].readline() == "got-term"
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9"])
def test_kill_sigkill(runtime, bundle, config, sig):
    cid = runtime.create(bundle(oci.sh(config(), WAIT_GO)))
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    runtime.kill(cid, sig)
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_kill_created_container(runtime, bundle, config):
    cid = runtime.create(bundle(oci.sh(config(), "echo never")))
    runtime.kill(cid, "KILL")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    assert runtime.out[cid].read() == ""


def test_kill_all(runtime, bundle, config):
    script = "sleep 1000 & sleep 1000 & echo ready; wait"
    cfg = config()
    oci.drop_namespace(cfg, "pid")  # without a pid ns, only --all reaches the children
    cid = runtime.create(bundle(oci.sh(cfg, script)))
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    pids = json.loads(runtime.cli("ps", "--format", "json", cid, check=True).stdout)
    assert len(pids) == 3
    for p in pids:
        runtime.track_pid(p)
    runtime.kill(cid, "KILL", all=True)
    wait_for(lambda: not any(pid_alive(p) for p in pids))
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


@pytest.mark.parametrize("code", [0, 3, 42])
def test_run_exit_code(runtime, code):
    r = runtime.sh(f"echo out; echo err >&2; exit {code}")
    assert r.returncode == code, r.stderr
    assert r.stdout == "out\n"
    assert "err" in r.stderr


def test_run_killed_by_signal_exits_128_plus_n(runtime, bundle, config):
    b = bundle(oci.sh(config(), WAIT_GO))
    cid = runtime.new_id()
    p = runtime.popen("run", "--bundle", b, cid)
    assert p.stdout.readline() == "ready\n"
    runtime.kill(cid, "9")
    assert p.wait(timeout=10) == 128 + 9


def test_run_forwards_signals(runtime, bundle, config):
    """Foreground run forwards what it receives to the container (here SIGTERM to a trap)."""
    script = 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 1 & wait; done'
    b = bundle(oci.sh(config(), script))
    p = runtime.popen("run", "--bundle", b, runtime.new_id())
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 7
    assert p.stdout.read() == "got-term\n"


def test_run_detach(runtime, bundle, config):
    b = bundle(oci.sh(config(), WAIT_GO))
    cid = runtime.run_detached(b)
    assert runtime.out[cid].readline() == "ready"
    assert runtime.state(cid)["status"] == "running"
    release(b)
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


@pytest.mark.parametrize("verb", ["create", "run"])
def test_pid_file(runtime, bundle, config, verb):
    b = bundle(oci.sh(config(), WAIT_GO))
    pidfile = runtime.ctx.tmp / "pidfile"
    if verb == "create":
        cid = runtime.create(b, None, "--pid-file", pidfile)
    else:
        cid = runtime.run_detached(b, None, "--pid-file", pidfile)
    st = runtime.state(cid)
    assert int(pidfile.read_text().strip()) == st["pid"]
    runtime.delete(cid, force=True)


@pytest.fixture
def running(runtime, bundle, config):
    """A running container (``sh`` waiting on /tmp/go): (cid, bundle, init pid)."""
    b = bundle(oci.sh(config(), WAIT_GO))
    cid = runtime.create(b)
    runtime.start(cid)
    assert runtime.out[cid].readline() == "ready"
    return cid, b, runtime.state(cid)["pid"]


def test_exec_args(runtime, running):
    cid, _, pid = running
    r = runtime.exec(
        cid, "sh", "-c", "echo $$; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert int(lines[0]) > 1  # a new process in the container's pid ns
    assert lines[1] == os.readlink(f"/proc/{pid}/ns/pid")
    assert lines[2] == os.readlink(f"/proc/{pid}/ns/mnt")


def test_exec_exit_code(runtime, running):
    cid, _, _ = running
    assert runtime.exec(cid, "sh", "-c", "exit 7").returncode == 7


def test_exec_process_file(runtime, running):
    cid, _, _ = running
    process = {
        "terminal": False,
        "user": {"uid": 1000, "gid": 1000},
        "args": ["sh", "-c", 'echo "$FOO"; pwd; id -u; id -g'],
        "env": ["PATH=/bin:/usr/bin", "FOO=from-process-json"],
        "cwd": "/tmp",
        "capabilities": {"bounding": oci.DEFAULT_CAPS},
    }
    f = runtime.ctx.tmp / "process.json"
    f.write_text(json.dumps(process))
    r = runtime.exec(cid, flags=["--process", f])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["from-process-json", "/tmp", "1000", "1000"]


def test_exec_cwd_env_user(runtime, running):
    cid, _, _ = running
    flags = ["--cwd", "/etc", "--env", "FOO=bar", "--env", "BAZ=q u x", "--user", "1000:1000"]
    r = runtime.exec(cid, "sh", "-c", 'pwd; echo "$FOO|$BAZ"; id -u; id -g', flags=flags)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["/etc", "bar|q u x", "1000", "1000"]


def test_exec_cap(runtime, running):
    cid, _, _ = running
    base = runtime.exec(cid, "cat", "/proc/self/status", check=True).stdout
    assert "CAP_SYS_ADMIN" not in oci.cap_names(parse_status(base)["CapEff"])
    r = runtime.exec(cid, "cat", "/proc/self/status", flags=["--cap", "CAP_SYS_ADMIN"], check=True)
    st = parse_status(r.stdout)
    assert "CAP_SYS_ADMIN" in oci.cap_names(st["CapEff"])
    assert "CAP_SYS_ADMIN" in oci.cap_names(st["CapBnd"])


def test_exec_detach(runtime, running):
    cid, b, _ = running
    pidfile = runtime.ctx.tmp / "exec.pid"
    script = "echo $$ > /tmp/exec-ran; echo started; sleep 1000"
    out = runtime.exec_detached(cid, "sh", "-c", script, flags=["--pid-file", pidfile])
    pid = runtime.track_pid(int(pidfile.read_text()))
    assert pid_alive(pid)
    assert out.readline() == "started"
    assert (b / "rootfs/tmp/exec-ran").exists()
    ps = json.loads(runtime.cli("ps", "--format", "json", cid, check=True).stdout)
    assert pid in ps


def test_exec_in_stopped_container_fails(runtime, bundle, config):
    cid = runtime.create(bundle(oci.sh(config(), "true")))
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    r = runtime.exec(cid, "true")
    assert r.returncode != 0
    runtime.delete(cid)


def test_ps(runtime, running):
    cid, _, pid = running
    r = runtime.cli("ps", cid, check=True)
    header, *rows = r.stdout.splitlines()
    assert "PID" in header.split()
    pid_col = header.split().index("PID")
    assert pid in [int(row.split()[pid_col]) for row in rows]
    assert json.loads(runtime.cli("ps", "--format", "json", cid, check=True).stdout) == [pid]


def test_pause_resume(runtime, bundle, config):
    cid = runtime.create(bundle(oci.sh(config(), "while :; do echo tick; usleep 20000; done")))
    runtime.start(cid)
    out = runtime.out[cid]
    assert out.readline() == "tick"
    pid = runtime.state(cid)["pid"]
    runtime.cli("pause", cid, check=True)
    assert runtime.state(cid)["status"] == "paused"
    freezer = cgroup_dir(pid, "freezer") / "freezer.state"
    assert freezer.read_text().strip() == "FROZEN"
    # drain what was written before the freeze, then expect silence
    out.drain()
    assert out.quiet_for(0.3), "a paused container kept running"
    runtime.cli("resume", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    assert freezer.read_text().strip() == "THAWED"
    assert out.readline() == "tick"
    runtime.delete(cid, force=True)


def test_list(runtime, bundle, config):
    a = runtime.create(bundle(oci.sh(config(), "true")))
    b = runtime.create(bundle(oci.sh(config(), WAIT_GO)))
    runtime.start(b)
    r = runtime.cli("list", "--format", "json", check=True)
    by_id = {c["id"]: c for c in json.loads(r.stdout)}
    assert by_id[a]["status"] == "created"
    assert by_id[b]["status"] == "running"
    table = runtime.cli("list", check=True).stdout
    assert a in table and b in table
    assert runtime.cli("list", "-q", check=True).stdout.split() == sorted([a, b])


def test_update_memory_and_pids(runtime, bundle, config):
    cfg = config()
    cfg["linux"]["resources"]["memory"] = {"limit": 128 << 20}
    cfg["linux"]["resources"]["pids"] = {"limit": 100}
    cid = runtime.create(bundle(oci.sh(cfg, "true")))
    pid = runtime.state(cid)["pid"]
    mem = cgroup_dir(pid, "memory")
    pids = cgroup_dir(pid, "pids")
    assert int((mem / "memory.limit_in_bytes").read_text()) == 128 << 20
    runtime.cli("update", "--memory", "64M", "--pids-limit", "50", cid, check=True)
    assert int((mem / "memory.limit_in_bytes").read_text()) == 64 << 20
    assert (pids / "pids.max").read_text().strip() == "50"
    resources = {"memory": {"limit": 96 << 20}, "pids": {"limit": 77}}
    runtime.cli("update", "--resources", "-", cid, input=json.dumps(resources), check=True)
    assert int((mem / "memory.limit_in_bytes").read_text()) == 96 << 20
    assert (pids / "pids.max").read_text().strip() == "77"
    runtime.delete(cid)


def test_features(runtime):
    r = runtime.cli("features", check=True)
    f = json.loads(r.stdout)
    assert f["ociVersionMin"].startswith("1.0")
    assert f["ociVersionMax"] >= "1.0.2"
    assert {"prestart", "createRuntime", "poststop"} <= set(f["hooks"])
    assert {"ro", "bind", "rbind", "nosuid"} <= set(f["mountOptions"])
    linux = f["linux"]
    assert {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"} <= set(linux["namespaces"])
    assert {"CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_KILL"} <= set(linux["capabilities"])
    assert linux["cgroup"]["v1"] is True
    assert linux["seccomp"]["enabled"] is True
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]


def test_spec(runtime, tmp_path):
    r = runtime.cli("spec", cwd=tmp_path, check=True)
    assert r.stdout == ""
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["ociVersion"].startswith("1.")
    assert spec["process"]["args"]
    assert spec["root"]["path"]
    assert {n["type"] for n in spec["linux"]["namespaces"]} >= {"pid", "mount"}
    # never overwrite an existing config.json
    assert runtime.cli("spec", cwd=tmp_path).returncode != 0
    other = tmp_path / "b2"
    other.mkdir()
    runtime.cli("spec", "--bundle", other, check=True)
    assert json.loads((other / "config.json").read_text())["ociVersion"]


def test_state_pid_matches_container_init(runtime, running):
    _, _, pid = running
    # the pid in state is the container's pid 1, seen from the host
    assert status_field(pid, "NSpid").split()[-1] == "1"
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")


def test_stdio_passthrough(runtime, bundle, config):
    """terminal=false: create passes its own stdio through untouched (here stdin too)."""
    b = bundle(oci.sh(config(), "read line; echo got:$line"))
    cid = runtime.new_id()
    r = runtime.cli("run", "--bundle", b, cid, input="hello\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "got:hello\n"


def test_run_removes_container(runtime, bundle, config):
    cid = runtime.new_id()
    r = runtime.run(bundle(oci.sh(config(), "true")), cid)
    assert r.returncode == 0, r.stderr
    assert runtime.cli("state", cid).returncode != 0


def test_signal_dispositions_reset(runtime):
    """The runtime is Python: SIGPIPE/SIGXFSZ must not arrive ignored (``yes | head`` hangs)."""
    out = runtime.sh_ok("grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -n 2")
    st = parse_status(out)
    assert int(st["SigIgn"], 16) == 0
    assert int(st["SigBlk"], 16) == 0
    assert out.endswith("y\ny\n")


def test_preserve_fds(runtime, bundle, config, testctx):
    """--preserve-fds 1: the caller's fd 3 reaches the container as fd 3 (LISTEN_FDS style)."""
    data = testctx.tmp / "passed"
    data.write_text("through-fd-3\n")
    b = bundle(oci.sh(config(), "cat <&3; ls /proc/$$/fd; true"))
    cid = runtime.new_id()
    cmd = runtime.cmd("run", "--preserve-fds", "1", "--bundle", b, cid)
    r = subprocess.run(
        ["/bin/sh", "-c", f'exec "$@" 3<{data}', "sh", *cmd],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "through-fd-3"
    assert lines[1:] == ["0", "1", "2", "3"]


@pytest.mark.parametrize("flag", ["--no-pivot", "--no-new-keyring"])
def test_run_flags(runtime, bundle, config, flag):
    cid = runtime.new_id()
    r = runtime.run(bundle(oci.sh(config(), "echo ok")), cid, flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"

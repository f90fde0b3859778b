"""ContainerEngine end to end as root: real shims, runtime, snapshots and cgroups.

Every test has its own exec root and cgroup parent (``dockyard-test-engine-<token>``);
the finalizer force-removes every container, kills any shim still alive and then
fails the test if a mount, cgroup or shim process is left behind.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import secrets
import time

import pytest
from engine_support import (
    find_dirs,
    kill_shims,
    mounts_under,
    remove_all,
    remove_dirs,
    shim_pids,
    unmount_under,
)

from dockyard.engine.containers import ContainerEngine, EngineConfig
from dockyard.engine.errors import Conflict, InvalidParameter, NoSuchContainer

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
]


class Env:
    def __init__(self, store, tmp_path):
        self.store = store
        self.data_root = str(store.root)
        self.exec_root = str(tmp_path / "exec")
        self.token = secrets.token_hex(4)
        self.cgroup_parent = f"dockyard-test-engine-{self.token}"

    def engine(self) -> ContainerEngine:
        return ContainerEngine(self.data_root, self.exec_root, self.store,
                               EngineConfig(cgroup_parent=self.cgroup_parent))

    def name(self, what: str) -> str:
        return f"t{self.token}-{what}"

    def run(self, coro_fn):
        """Run ``coro_fn(engine)`` with a fresh engine (restored) in a new loop."""
        async def main():
            eng = self.engine()
            await eng.restore()
            try:
                return await coro_fn(eng)
            finally:
                await eng.close()

        return asyncio.run(main())


@pytest.fixture
def env(busybox_store, tmp_path):
    e = Env(busybox_store, tmp_path)
    yield e
    left = e.run(remove_all)
    shims = kill_shims(e.exec_root)
    mounts = unmount_under(os.path.join(e.data_root, "containers"))
    parents = find_dirs("/sys/fs/cgroup", e.cgroup_parent)
    cgroups = [c for p in parents for c in glob.glob(p + "/*/")]
    remove_dirs(parents)
    assert not left, f"containers left: {left}"
    assert not shims, f"shims left: {shims}"
    assert not mounts, f"mounts left: {mounts}"
    assert not [c for c in cgroups if os.path.isdir(c)], f"cgroups left: {cgroups}"


async def _logs(eng, ref, **kw) -> str:
    out = []
    async for entry in eng.logs(ref, **kw):
        out.append(entry.data.decode())
    return "".join(out)


async def _until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def test_echo_hi_logs_and_exit_code(env):
    async def body(eng):
        events = []
        eng.subscribe(events.append)
        created = await eng.create({"Image": "busybox", "Cmd": ["echo", "hi"]},
                                   name=env.name("echo"))
        cid = created["Id"]
        assert (await eng.inspect(cid))["State"]["Status"] == "created"
        await eng.start(env.name("echo"))
        result = await eng.wait(cid)
        assert result == {"StatusCode": 0, "Error": None}
        assert await _logs(eng, cid) == "hi\n"
        stamped = await _logs(eng, cid, timestamps=True)
        assert stamped.endswith(" hi\n") and stamped[:4].isdigit()
        info = await eng.inspect(cid)
        assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
        assert info["State"]["FinishedAt"] >= info["State"]["StartedAt"]
        assert info["Name"] == "/" + env.name("echo") and info["Path"] == "echo"
        assert info["Config"]["Hostname"] == cid[:12]
        with open(info["LogPath"]) as f:
            record = json.loads(f.readline())
        assert record["log"] == "hi\n" and record["stream"] == "stdout"
        assert record["time"].endswith("Z")
        listed = await eng.list(all=True, filters={"name": [env.name("echo")]})
        assert [c["Id"] for c in listed] == [cid]
        assert listed[0]["Status"].startswith("Exited (0)")
        assert await eng.list(filters={"name": [env.name("echo")]}) == []
        assert [c["Id"] for c in await eng.list(all=True, filters={"exited": ["0"]})
                if c["Id"] == cid] == [cid]
        await eng.remove(cid)
        with pytest.raises(NoSuchContainer):
            await eng.inspect(cid)
        assert [e["Action"] for e in events] == ["create", "start", "die", "destroy"]
        die = events[2]
        assert die["Actor"]["Attributes"]["exitCode"] == "0"
        assert die["Actor"]["Attributes"]["name"] == env.name("echo")
        with pytest.raises(InvalidParameter, match="Invalid filter"):
            await eng.list(filters={"status": ["bogus"]})

    env.run(body)


def test_exit_code_stderr_and_env(env):
    async def body(eng):
        cid = (await eng.create({
            "Image": "busybox", "Env": ["X=42"],
            "Cmd": ["sh", "-c", "echo $X; echo out-of-band >&2; hostname; exit 3"],
            "Hostname": "box"}))["Id"]
        await eng.start(cid)
        assert (await eng.wait(cid))["StatusCode"] == 3
        assert await _logs(eng, cid, stderr=False) == "42\nbox\n"
        assert await _logs(eng, cid, stdout=False) == "out-of-band\n"
        assert await _logs(eng, cid, tail=1) == "box\n" or \
            await _logs(eng, cid, tail=1) == "out-of-band\n"
        assert (await eng.inspect(cid))["State"]["ExitCode"] == 3
        await eng.remove(cid)

    env.run(body)


def test_stop_ignoring_sigterm_is_killed(env):
    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"]}))["Id"]
        await eng.start(cid)
        info = await eng.inspect(cid)
        assert info["State"]["Running"] and info["State"]["Pid"] > 0
        top = await eng.top(cid)
        assert "PID" in top["Titles"] and len(top["Processes"]) == 1
        await eng.update(cid, {"Memory": 64 << 20, "MemorySwap": -1,
                               "RestartPolicy": {"Name": "unless-stopped"}})
        info = await eng.inspect(cid)
        assert info["HostConfig"]["Memory"] == 64 << 20
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        with open(f"/proc/{info['State']['Pid']}/cgroup") as f:
            memcg = next(line.split(":")[2].strip() for line in f if ":memory:" in line)
        with open(f"/sys/fs/cgroup/memory{memcg}/memory.limit_in_bytes") as f:
            assert int(f.read()) == 64 << 20
        await eng.pause(cid)
        assert (await eng.inspect(cid))["State"]["Status"] == "paused"
        with pytest.raises(Conflict):
            await eng.remove(cid)
        await eng.unpause(cid)
        started = time.monotonic()
        await eng.stop(cid, timeout=1)
        assert 0.9 < time.monotonic() - started < 10
        state = (await eng.inspect(cid))["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137
        await eng.remove(cid)

    env.run(body)


def test_restart_policy_on_failure(env):
    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sh", "-c", "echo run; exit 1"]},
                                {"RestartPolicy": {"Name": "on-failure",
                                                   "MaximumRetryCount": 2}}))["Id"]
        await eng.start(cid)

        async def done():
            info = await eng.inspect(cid)
            return info["RestartCount"] == 2 and info["State"]["Status"] == "exited"

        await _until(done)
        await asyncio.sleep(0.5)  # no third restart
        info = await eng.inspect(cid)
        assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 1
        assert await _logs(eng, cid) == "run\n" * 3
        await eng.remove(cid)

    env.run(body)


def test_live_restore_readopts_running_container(env):
    name = env.name("restore")

    async def first(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"]},
                                name=name))["Id"]
        await eng.start(cid)
        return (await eng.inspect(cid))["State"]["Pid"]

    pid = env.run(first)  # the engine is gone; the container is not
    assert os.path.exists(f"/proc/{pid}")

    async def second(eng):
        info = await eng.inspect(name)
        assert info["State"]["Status"] == "running" and info["State"]["Pid"] == pid
        waiter = asyncio.ensure_future(eng.wait(name))
        await eng.stop(name, timeout=1)
        assert (await waiter)["StatusCode"] == 137
        assert (await eng.inspect(name))["State"]["ExitCode"] == 137
        await eng.remove(name)

    env.run(second)


def test_exit_while_engine_down_is_recorded(env):
    name = env.name("down")

    async def first(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sh", "-c", "sleep 0.3; exit 5"]},
                                name=name))["Id"]
        await eng.start(cid)

    env.run(first)
    time.sleep(1.0)

    async def second(eng):
        state = (await eng.inspect(name))["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 5
        await eng.remove(name)

    env.run(second)


def test_force_remove_running_and_name_conflicts(env):
    name = env.name("web")

    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"]},
                                name=name))["Id"]
        with pytest.raises(Conflict, match="is already in use"):
            await eng.create({"Image": "busybox", "Cmd": ["true"]}, name=name)
        with pytest.raises(Conflict, match="is already in use"):
            await eng.create({"Image": "busybox", "Cmd": ["true"]}, name="/" + name)
        with pytest.raises(InvalidParameter, match="Invalid container name"):
            await eng.create({"Image": "busybox", "Cmd": ["true"]}, name="bad name")
        other = (await eng.create({"Image": "busybox", "Cmd": ["true"]}))["Id"]
        with pytest.raises(Conflict):
            await eng.rename(other, name)
        await eng.rename(other, name + "-2")
        assert (await eng.inspect(name + "-2"))["Id"] == other
        await eng.start(cid)
        with pytest.raises(Conflict, match="Stop the container before attempting removal"):
            await eng.remove(name)
        removed = asyncio.ensure_future(eng.wait(cid, "removed"))
        await eng.remove(name, force=True)
        assert (await removed)["StatusCode"] == 137
        with pytest.raises(NoSuchContainer):
            await eng.inspect(name)
        # the name is free again
        again = (await eng.create({"Image": "busybox", "Cmd": ["true"]}, name=name))["Id"]
        await eng.remove(again)
        await eng.remove(other)

    env.run(body)


def test_attach_stdin_and_output(env):
    from dockyard.engine.shim import connect_attach

    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["cat"], "OpenStdin": True,
                                 "StdinOnce": True, "AttachStdin": True}))["Id"]
        await eng.start(cid)
        sock = connect_attach(eng.attach_socket(cid))
        try:
            sock.sendall(b'{"stdin": true, "stdout": true, "stderr": true}\n')
            sock.sendall(b"hello\n")
            sock.shutdown(1)  # half-close: StdinOnce closes the container's stdin

            def read_all():
                data = b""
                sock.settimeout(10)
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return data
                    data += chunk

            data = await asyncio.to_thread(read_all)
        finally:
            sock.close()
        assert data == bytes([1, 0, 0, 0, 0, 0, 0, 6]) + b"hello\n"
        assert (await eng.wait(cid))["StatusCode"] == 0
        assert await _logs(eng, cid) == "hello\n"
        await eng.remove(cid)

    env.run(body)


def test_tty_and_init(env):
    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Tty": True,
                                 "Cmd": ["sh", "-c", "tty; echo pid=$$"]},
                                {"Init": True}))["Id"]
        await eng.start(cid)
        assert (await eng.wait(cid))["StatusCode"] == 0
        out = await _logs(eng, cid)
        assert "/dev/pts/" in out and "pid=1" not in out
        await eng.remove(cid)

    env.run(body)


def test_always_restarts_until_stopped_and_restart_verb(env):
    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sh", "-c", "echo x; exit 0"]},
                                {"RestartPolicy": {"Name": "always"}}))["Id"]
        await eng.start(cid)

        async def restarted_twice():
            return (await eng.inspect(cid))["RestartCount"] >= 2

        await _until(restarted_twice)
        await eng.stop(cid, timeout=1)
        await asyncio.sleep(0.5)
        info = await eng.inspect(cid)
        assert info["State"]["Status"] == "exited"
        count = info["RestartCount"]
        await asyncio.sleep(0.5)
        assert (await eng.inspect(cid))["RestartCount"] == count

        other = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"]}))["Id"]
        await eng.start(other)
        first_pid = (await eng.inspect(other))["State"]["Pid"]
        await eng.restart(other, timeout=0)
        state = (await eng.inspect(other))["State"]
        assert state["Running"] and state["Pid"] != first_pid
        await eng.kill(other, "KILL")
        assert (await eng.wait(other))["StatusCode"] == 137
        with pytest.raises(Conflict, match="is not running"):
            await eng.kill(other)
        await eng.remove(other)
        await eng.remove(cid)

    env.run(body)


def test_readonly_rootfs_bind_and_user(env, tmp_path):
    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    (host_dir / "in.txt").write_text("from host\n")

    async def body(eng):
        cid = (await eng.create(
            {"Image": "busybox", "User": "nobody",
             "Cmd": ["sh", "-c", "id -u; cat /data/in.txt; touch /x 2>/dev/null || echo ro;"
                     " cat /etc/hostname"]},
            {"ReadonlyRootfs": True, "Binds": [f"{host_dir}:/data:ro"],
             "NetworkMode": "none"}))["Id"]
        await eng.start(cid)
        assert (await eng.wait(cid))["StatusCode"] == 0
        out = await _logs(eng, cid)
        assert out.splitlines() == ["65534", "from host", "ro", cid[:12]]
        info = await eng.inspect(cid)
        assert info["Mounts"][0]["Source"] == str(host_dir)
        assert info["Mounts"][0]["RW"] is False
        await eng.remove(cid)

    env.run(body)


def test_start_failure_leaves_nothing_running(env):
    from dockyard.engine.errors import EngineError

    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["/no/such/binary"]}))["Id"]
        with pytest.raises(EngineError) as err:
            await eng.start(cid)
        state = (await eng.inspect(cid))["State"]
        assert state["Status"] == "created" and not state["Running"]
        assert state["Error"] == err.value.message
        assert state["ExitCode"] in (126, 127, 128)
        assert not shim_pids(env.exec_root)
        assert not mounts_under(eng.container_dir(cid))
        await eng.remove(cid)

    env.run(body)


def test_tty_attach_and_resize(env):
    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Tty": True, "OpenStdin": True,
                                 "Cmd": ["sh", "-c", "read x; stty size; echo got-$x"]}))["Id"]
        await eng.start(cid)
        await eng.resize(cid, 30, 100)
        sock = await eng.attach(cid, stdin=True)

        def talk():
            sock.settimeout(10)
            sock.sendall(b"abc\n")
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    return data
                data += chunk

        try:
            data = await asyncio.to_thread(talk)
        finally:
            sock.close()
        assert b"30 100" in data and b"got-abc" in data
        assert data[:1] != b"\x01"  # raw, not framed
        assert (await eng.wait(cid))["StatusCode"] == 0
        await eng.remove(cid)

    env.run(body)


def test_oom_killed_is_recorded(env):
    async def body(eng):
        cid = (await eng.create(
            {"Image": "busybox",
             "Cmd": ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo $x"]},
            {"Memory": 16 << 20, "MemorySwap": 16 << 20}))["Id"]
        await eng.start(cid)
        result = await eng.wait(cid)
        state = (await eng.inspect(cid))["State"]
        assert result["StatusCode"] == 137
        assert state["OOMKilled"] is True
        await eng.remove(cid)

    env.run(body)


def test_log_rotation_and_follow(env):
    async def body(eng):
        cid = (await eng.create(
            {"Image": "busybox",
             "Cmd": ["sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); "
                     "done; sleep 1; echo last"]},
            {"LogConfig": {"Type": "json-file",
                           "Config": {"max-size": "2k", "max-file": "2"}}}))["Id"]
        await eng.start(cid)
        followed = []
        async for entry in eng.logs(cid, follow=True, tail=0):
            followed.append(entry.data.decode())
        # follow ends when the container exits, after its last line
        assert followed and followed[-1] == "last\n", followed
        info = await eng.inspect(cid)
        files = sorted(os.listdir(os.path.dirname(info["LogPath"])))
        logs = [f for f in files if "-json.log" in f]
        assert len(logs) == 2
        assert all(os.path.getsize(os.path.join(os.path.dirname(info["LogPath"]), f)) <= 2048
                   for f in logs)
        out = await _logs(eng, cid)
        assert out.endswith("line-199\nlast\n") and not out.startswith("line-0\n")
        await eng.remove(cid)

    env.run(body)


DAEMON = """
import asyncio, sys
from dockyard.image.store import ImageStore
from dockyard.engine.containers import ContainerEngine, EngineConfig

async def main(data_root, exec_root, parent, name):
    store = ImageStore(data_root)
    eng = await ContainerEngine.open(data_root, exec_root, store,
                                     EngineConfig(cgroup_parent=parent))
    cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"]}, name=name))["Id"]
    await eng.start(cid)
    print(cid, flush=True)
    await asyncio.sleep(1000)

asyncio.run(main(*sys.argv[1:]))
"""


def test_sigkilled_daemon_leaves_container_running_and_readoptable(env):
    import subprocess
    import sys

    name = env.name("sigkill")
    proc = subprocess.Popen([sys.executable, "-c", DAEMON, env.data_root, env.exec_root,
                             env.cgroup_parent, name], stdout=subprocess.PIPE, text=True)
    try:
        cid = proc.stdout.readline().strip()
        assert len(cid) == 64
    finally:
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait()
        proc.stdout.close()

    async def body(eng):
        info = await eng.inspect(cid)
        assert info["State"]["Running"], info["State"]
        assert os.path.exists(f"/proc/{info['State']['Pid']}")
        await eng.stop(name, timeout=0)
        assert (await eng.inspect(cid))["State"]["ExitCode"] == 137
        await eng.remove(cid)

    env.run(body)


def test_attach_large_stdin_to_slow_reader(env):
    async def body(eng):
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sh", "-c", "sleep 1; wc -c"],
                                 "OpenStdin": True, "StdinOnce": True}))["Id"]
        await eng.start(cid)
        sock = await eng.attach(cid, stdin=True)

        def talk():
            sock.settimeout(20)
            sock.sendall(b"x" * (1 << 20))
            sock.shutdown(1)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return data

        try:
            data = await asyncio.to_thread(talk)
        finally:
            sock.close()
        assert data[8:].strip() == b"1048576"
        assert (await eng.wait(cid))["StatusCode"] == 0
        await eng.remove(cid)

    env.run(body)


def test_network_mode_container_and_host(env):
    async def body(eng):
        first = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"]},
                                  {"NetworkMode": "none"}))["Id"]
        await eng.start(first)
        pid = (await eng.inspect(first))["State"]["Pid"]
        joined = (await eng.create({"Image": "busybox",
                                    "Cmd": ["readlink", "/proc/self/ns/net"]},
                                   {"NetworkMode": f"container:{first}"}))["Id"]
        await eng.start(joined)
        assert (await eng.wait(joined))["StatusCode"] == 0
        assert (await _logs(eng, joined)).strip() == os.readlink(f"/proc/{pid}/ns/net")
        host = (await eng.create({"Image": "busybox",
                                  "Cmd": ["readlink", "/proc/self/ns/net"]},
                                 {"NetworkMode": "host"}))["Id"]
        await eng.start(host)
        assert (await eng.wait(host))["StatusCode"] == 0
        assert (await _logs(eng, host)).strip() == os.readlink("/proc/self/ns/net")
        for cid in (joined, host):
            await eng.remove(cid)
        await eng.remove(first, force=True)

    env.run(body)

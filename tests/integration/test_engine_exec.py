"""Exec in the engine as root: real shims, the exec helper, the runtime's exec.

Every test has its own exec root and cgroup parent; the finalizer force-removes every
container and fails the test if a mount, cgroup, shim or exec helper is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import secrets
import signal
import time

import pytest
from engine_support import find_dirs, kill_shims, remove_all, remove_dirs, unmount_under

from dockyard.engine.containers import ContainerEngine, EngineConfig
from dockyard.engine.errors import Conflict, InvalidParameter, NotFound

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
]


def execer_pids(runtime_root: str) -> list[int]:
    """Exec helpers of this test (matched by their --runtime-root argument)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"dockyard.engine.execer" in argv and runtime_root.encode() in argv:
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        continue
            except OSError:
                continue
            found.append(int(entry))
    return found


class Env:
    def __init__(self, store, tmp_path):
        self.store = store
        self.data_root = str(store.root)
        self.exec_root = str(tmp_path / "exec")
        self.token = secrets.token_hex(4)
        self.cgroup_parent = f"dockyard-test-exec-{self.token}"

    def engine(self) -> ContainerEngine:
        return ContainerEngine(self.data_root, self.exec_root, self.store,
                               EngineConfig(cgroup_parent=self.cgroup_parent))

    def run(self, coro_fn):
        async def main():
            eng = self.engine()
            await eng.restore()
            try:
                return await asyncio.wait_for(coro_fn(eng), 60)
            finally:
                await eng.close()

        return asyncio.run(main())


def cleanup_env(e: Env) -> None:
    left = e.run(remove_all)
    shims = kill_shims(e.exec_root)
    runtime_root = os.path.join(e.exec_root, "runtime")
    execers = []
    for _ in range(40):  # they exit once the container's processes are gone
        execers = execer_pids(runtime_root)
        if not execers:
            break
        time.sleep(0.05)
    for pid in execers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    mounts = unmount_under(os.path.join(e.data_root, "containers"))
    parents = find_dirs("/sys/fs/cgroup", e.cgroup_parent)
    cgroups = [c for p in parents for c in glob.glob(p + "/*/")]
    remove_dirs(parents)
    assert not left, f"containers left: {left}"
    assert not shims, f"shims left: {shims}"
    assert not execers, f"exec helpers left: {execers}"
    assert not mounts, f"mounts left: {mounts}"
    assert not [c for c in cgroups if os.path.isdir(c)], f"cgroups left: {cgroups}"


@pytest.fixture
def env(busybox_store, tmp_path):
    e = Env(busybox_store, tmp_path)
    yield e
    cleanup_env(e)


async def collect(session) -> dict[int, bytes]:
    out = {1: b"", 2: b""}
    while True:
        item = await session.read()
        if item is None:
            return out
        out[item[0]] += item[1]


async def sleeper(eng, **config) -> str:
    cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "1000"], **config}))["Id"]
    await eng.start(cid)
    return cid


def test_exec_echo_and_inspect(env):
    async def body(eng):
        cid = await sleeper(eng)
        eid = await eng.execs.create(cid, {"Cmd": ["echo", "hi"], "AttachStdout": True,
                                           "AttachStderr": True})
        assert re.fullmatch(r"[0-9a-f]{64}", eid)
        before = eng.execs.inspect(eid)
        assert before["Running"] is False and before["ExitCode"] is None
        session = await eng.execs.start(eid)
        out = await collect(session)
        info = eng.execs.inspect(eid)
        container = await eng.inspect(cid)
        return out, info, container, cid

    out, info, container, cid = env.run(body)
    assert out == {1: b"hi\n", 2: b""}
    assert info["ExitCode"] == 0 and info["Running"] is False
    assert info["ProcessConfig"] == {"tty": False, "entrypoint": "echo", "arguments": ["hi"],
                                     "privileged": False, "user": ""}
    assert info["ContainerID"] == cid and info["OpenStdout"] and not info["OpenStdin"]
    assert info["Pid"] > 0 and info["CanRemove"] is True
    assert container["ExecIDs"] == [info["ID"]]


def test_exec_exit_code_stderr_env_workdir_user(env):
    async def body(eng):
        cid = await sleeper(eng)
        results = []
        for cfg in ({"Cmd": ["sh", "-c", "exit 5"]},
                    {"Cmd": ["sh", "-c", "echo err >&2; echo $FOO; pwd; id -u"],
                     "Env": ["FOO=bar"], "WorkingDir": "/tmp", "User": "nobody"},
                    {"Cmd": ["no-such-program"]}):
            eid = await eng.execs.create(cid, cfg)
            session = await eng.execs.start(eid)
            out = await collect(session)
            results.append((out, eng.execs.inspect(eid), session.error))
        return results

    (_, info5, _), (out, info, _), (_, missing, error) = env.run(body)
    assert info5["ExitCode"] == 5
    assert out[2] == b"err\n"
    assert out[1] == b"bar\n/tmp\n65534\n"
    assert info["ExitCode"] == 0
    assert missing["ExitCode"] in (126, 127) and error


def test_exec_stdin(env):
    async def body(eng):
        cid = await sleeper(eng)
        eid = await eng.execs.create(cid, {"Cmd": ["cat"], "AttachStdin": True,
                                           "AttachStdout": True})
        session = await eng.execs.start(eid)
        session.write_stdin(b"hello ")
        session.write_stdin(b"world\n")
        session.close_stdin()
        out = await collect(session)
        return out, eng.execs.inspect(eid)

    out, info = env.run(body)
    assert out[1] == b"hello world\n"
    assert info["ExitCode"] == 0


def test_exec_tty(env):
    async def body(eng):
        cid = await sleeper(eng)
        eid = await eng.execs.create(cid, {"Cmd": ["sh", "-c", "tty; stty size"],
                                           "Tty": True, "AttachStdout": True})
        session = await eng.execs.start(eid, console_size=(33, 77))
        out = await collect(session)
        return out, eng.execs.inspect(eid)

    out, info = env.run(body)
    lines = out[1].decode().split("\r\n")
    assert re.fullmatch(r"/dev/pts/\d+", lines[0]), out
    assert lines[1] == "33 77"
    assert out[2] == b""
    assert info["ExitCode"] == 0 and info["ProcessConfig"]["tty"] is True


def test_exec_refusals(env):
    async def body(eng):
        errors = []
        stopped = (await eng.create({"Image": "busybox", "Cmd": ["true"]}))["Id"]
        with pytest.raises(Conflict) as err:
            await eng.execs.create(stopped, {"Cmd": ["echo"]})
        errors.append(err.value)
        cid = await sleeper(eng)
        with pytest.raises(InvalidParameter, match="No exec command specified"):
            await eng.execs.create(cid, {"Cmd": []})
        with pytest.raises(NotFound, match="No such exec instance: nope"):
            eng.execs.inspect("nope")
        eid = await eng.execs.create(cid, {"Cmd": ["true"]})
        await eng.pause(cid)
        with pytest.raises(Conflict) as err:
            await eng.execs.start(eid)
        errors.append(err.value)
        await eng.unpause(cid)
        await collect(await eng.execs.start(eid))
        with pytest.raises(Conflict, match="has already run"):
            await eng.execs.start(eid)
        # Removing the container drops its execs.
        await eng.remove(cid, force=True)
        with pytest.raises(NotFound):
            eng.execs.inspect(eid)
        return errors

    not_running, paused = env.run(body)
    assert not_running.status == 409 and "is not running" in not_running.message
    assert paused.status == 409 and "is paused" in paused.message


def test_exec_detached_client_and_container_exit(env):
    """A session nobody reads still records its exit code; a container that dies
    takes its execs' processes with it."""
    async def body(eng):
        cid = await sleeper(eng)
        eid = await eng.execs.create(cid, {"Cmd": ["sh", "-c", "seq 1 100000"],
                                           "AttachStdout": True})
        session = await eng.execs.start(eid)
        session.detach()
        code = await asyncio.wait_for(session.done, 20)
        long_id = await eng.execs.create(cid, {"Cmd": ["sleep", "1000"]})
        long = await eng.execs.start(long_id, detach=True)
        running = eng.execs.inspect(long_id)["Running"]
        await eng.kill(cid)
        long_code = await asyncio.wait_for(long.done, 20)
        return code, running, long_code

    code, running, long_code = env.run(body)
    assert code == 0
    assert running is True
    assert long_code == 137


def test_detach_keys_parsing_and_scanner():
    from dockyard.engine.execs import DetachScanner, parse_detach_keys

    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x,ctrl-@,ctrl-\\") == b"\x01x\x00\x1c"
    with pytest.raises(InvalidParameter, match="Invalid escape keys"):
        parse_detach_keys("ctrl-1")
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"ab\x10") == (b"ab", False)  # held back: may start the sequence
    assert scanner.feed(b"c") == (b"\x10c", False)  # broken: forwarded
    assert scanner.feed(b"\x10\x10") == (b"\x10", False)
    assert scanner.feed(b"\x11rest") == (b"", True)

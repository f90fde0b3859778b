"""The shim fork server: shims are forked from it, own little memory, and neither they
nor their containers depend on it (or on the daemon) once started.

Each test has its own exec root and cgroup parent; the finalizer removes every
container and fails the test if a shim, a mount or a cgroup is left behind.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import secrets
import signal

import pytest
from engine_support import kill_shims, remove_all, remove_dirs, unmount_under

from dockyard.engine.containers import ContainerEngine, EngineConfig

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
]


def _cgroups_of(parent: str) -> list[str]:
    return [p for p in glob.glob(f"/sys/fs/cgroup/**/{parent}", recursive=True)
            if os.path.isdir(p)]


@pytest.fixture
def env(busybox_store, tmp_path):
    token = secrets.token_hex(4)
    cfg = EngineConfig(cgroup_parent=f"dockyard-test-shimsrv-{token}")
    exec_root = str(tmp_path / "exec")
    engines: list[ContainerEngine] = []

    def make() -> ContainerEngine:
        eng = ContainerEngine(str(busybox_store.root), exec_root, busybox_store, cfg)
        engines.append(eng)
        return eng

    yield make, token, exec_root

    async def cleanup() -> list[str]:
        eng = make()
        await eng.restore()
        left = await remove_all(eng)
        await eng.close()
        return left

    left = asyncio.run(cleanup())
    shims = kill_shims(exec_root)
    mounts = unmount_under(os.path.join(str(busybox_store.root), "containers"))
    remove_dirs(_cgroups_of(cfg.cgroup_parent))
    assert not left, f"containers left: {left}"
    assert not shims, f"shims left: {shims}"
    assert not mounts, f"mounts left: {mounts}"


def _shim_info(exec_root: str, cid: str) -> dict:
    with open(os.path.join(exec_root, "containers", cid, "shim.json")) as f:
        return json.load(f)


def _private_dirty_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Private_Dirty")


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_shims_are_forked_small_and_outlive_the_server(env):
    make, token, exec_root = env

    async def body():
        eng = make()
        await eng.restore()
        try:
            ids = []
            for i in range(2):
                cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "300"]},
                                        name=f"t{token}-s{i}"))["Id"]
                await eng.start(cid)
                ids.append(cid)
            server = eng._shim_server._proc.pid
            for cid in ids:
                shim = _shim_info(exec_root, cid)["shim_pid"]
                # Nobody's child (not ours, not the server's): it survives both.
                assert _ppid(shim) not in (os.getpid(), server)
                # Forked from the server, not a fresh interpreter: the same command line.
                with open(f"/proc/{shim}/cmdline", "rb") as f:
                    assert b"dockyard.engine.shimserver" in f.read()
                # An exec'd Python shim held about 9 MiB of its own; a forked one
                # holds what it wrote since the fork.
                assert _private_dirty_kib(shim) < 4 * 1024
            # The server dies: running containers go on and stop normally.
            os.kill(server, signal.SIGKILL)
            await eng.stop(ids[0], timeout=0)
            state = (await eng.inspect(ids[0]))["State"]
            assert state["Status"] == "exited" and state["ExitCode"] == 137
            # The next start brings a new server up.
            await eng.start(ids[0])
            assert eng._shim_server._proc.pid != server
            assert (await eng.inspect(ids[0]))["State"]["Running"]
            for cid in ids:
                await eng.remove(cid, force=True)
        finally:
            await eng.close()

    asyncio.run(body())


def test_close_stops_the_server_and_keeps_containers(env):
    make, token, _exec_root = env

    async def body():
        eng = make()
        await eng.restore()
        cid = (await eng.create({"Image": "busybox", "Cmd": ["sleep", "300"]},
                                name=f"t{token}-keep"))["Id"]
        await eng.start(cid)
        proc = eng._shim_server._proc
        await eng.close()
        assert proc.poll() is not None  # stopped and reaped
        # A new engine (a restarted daemon) re-adopts the container.
        eng2 = make()
        await eng2.restore()
        try:
            assert (await eng2.inspect(cid))["State"]["Running"]
            await eng2.remove(cid, force=True)
        finally:
            await eng2.close()

    asyncio.run(body())


def test_container_stdio_is_open_without_stdin(env):
    """A forked shim's fd 0 is the fork server's closed one reopened: it must still be
    handed to the container (tini, for one, fails on a closed stdin)."""
    make, token, _exec_root = env

    async def body():
        eng = make()
        await eng.restore()
        try:
            cid = (await eng.create({"Image": "busybox", "Cmd": [
                "sh", "-c", "for fd in 0 1 2; do test -e /proc/self/fd/$fd && echo $fd; done"]},
                name=f"t{token}-fds"))["Id"]
            await eng.start(cid)
            assert (await eng.wait(cid))["StatusCode"] == 0
            out = b"".join([e.data async for e in eng.logs(cid)])
            assert out == b"0\n1\n2\n"
            await eng.remove(cid)
        finally:
            await eng.close()

    asyncio.run(body())

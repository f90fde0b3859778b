"""The six hook kinds: state JSON on stdin, order, environment, timeouts, failures."""

from __future__ import annotations

import json
import time

import pytest

import oci

pytestmark = pytest.mark.root

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def recording_hooks(cfg: dict, hookdir) -> dict:
    """Every hook kind: ``sh`` saves its stdin to <hookdir>/<kind>.json and logs its name.

    The hook dir is bind-mounted at the same path inside the container, so the
    startContainer hook (resolved and run in the container) writes to the same place.
    """
    hookdir.mkdir(exist_ok=True)
    cfg["mounts"].append(
        {
            "destination": str(hookdir),
            "type": "bind",
            "source": str(hookdir),
            "options": ["rbind", "rw"],
        }
    )
    cfg["hooks"] = {}
    for kind in KINDS:
        script = f'cat > {hookdir}/{kind}.json; echo "{kind} $DY_HOOK_ENV $#" >> {hookdir}/order'
        cfg["hooks"][kind] = [
            {
                "path": "/bin/sh",
                "args": ["sh", "-c", script, "arg1"],
                "env": [f"DY_HOOK_ENV={kind}-env"],
            }
        ]
    return cfg


def test_all_hooks(runtime, testctx):
    hookdir = testctx.tmp / "hooks"
    cfg = recording_hooks(testctx.config(), hookdir)
    b = testctx.bundle(oci.sh(cfg, "echo main"))
    cid = runtime.create(b)
    pid = runtime.state(cid)["pid"]
    runtime.start(cid)
    assert runtime.out[cid].readline() == "main"
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    order = (hookdir / "order").read_text().splitlines()
    # each ran once, with its env; $# is 0 (args[0] is argv[0], "arg1" is $0 of sh -c)
    assert sorted(line.split()[0] for line in order) == sorted(KINDS)
    for line in order:
        kind, env, nargs = line.split()
        assert env == f"{kind}-env"
        assert nargs == "0"
    states = {k: json.loads((hookdir / f"{k}.json").read_text()) for k in KINDS}
    for kind, st in states.items():
        assert st["id"] == cid, kind
        assert st["bundle"] == str(b), kind
        assert st["ociVersion"], kind
    for kind in ["prestart", "createRuntime", "poststart"]:
        assert states[kind]["pid"] == pid, kind
    # hooks run inside the container's pid namespace may see the init as pid 1 (runc does)
    for kind in ["createContainer", "startContainer"]:
        assert states[kind]["pid"] in (pid, 1), kind
    assert states["createRuntime"]["status"] == "creating"
    assert states["createContainer"]["status"] == "creating"
    assert states["poststop"]["status"] == "stopped"
    # runtime-spec: startContainer before the program runs, poststart after it
    if [line.split()[0] for line in order] != KINDS:
        runtime.skip_if_runc(f"1.1.5 runs poststart hooks at create: {order}")
    assert [line.split()[0] for line in order] == KINDS
    assert states["poststart"]["status"] == "running"


def test_poststart_runs_at_start_not_create(runtime, testctx):
    hookdir = testctx.tmp / "hooks"
    cfg = recording_hooks(testctx.config(), hookdir)
    cid = runtime.create(testctx.bundle(oci.sh(cfg, "echo main")))
    ran = (hookdir / "order").read_text().split()
    if "poststart" in ran:
        runtime.skip_if_runc("1.1.5 runs poststart hooks at create")
    assert [line.split()[0] for line in (hookdir / "order").read_text().splitlines()] == KINDS[:3]
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)


def test_hook_timeout(runtime, testctx):
    cfg = testctx.config()
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}
    b = testctx.bundle(oci.sh(cfg, "echo should-not-run"))
    cid = runtime.new_id()
    t0 = time.monotonic()
    r = runtime.cli("create", "--bundle", b, cid, timeout=15)
    elapsed = time.monotonic() - t0
    assert r.returncode != 0
    assert elapsed < 4.5, f"the hook was not stopped at its timeout ({elapsed:.1f}s)"
    assert "time" in r.stderr.lower()  # "timed out" / "timeout"
    assert runtime.cli("state", cid).returncode != 0


def test_poststart_failure_kills_the_container(runtime, testctx):
    cfg = testctx.config()
    cfg["hooks"] = {"poststart": [{"path": "/bin/false", "args": ["false"]}]}
    b = testctx.bundle(oci.sh(cfg, "echo started; exec sleep 1000"))
    cid = runtime.create(b, check=False)
    if runtime.last.returncode != 0:
        runtime.skip_if_runc("1.1.5 runs poststart hooks at create")
        raise AssertionError(f"create failed: {runtime.stderr(cid)}")
    r = runtime.start(cid, check=False)
    assert r.returncode != 0
    st = runtime.status(cid)
    assert st in (None, "stopped"), st
    if st == "stopped":
        runtime.delete(cid)


def test_poststop_failure_is_only_a_warning(runtime, testctx):
    cfg = testctx.config()
    cfg["hooks"] = {"poststop": [{"path": "/bin/false", "args": ["false"]}]}
    cid = runtime.create(testctx.bundle(oci.sh(cfg, "true")))
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    r = runtime.delete(cid, check=False)
    assert r.returncode == 0, r.stderr
    assert runtime.cli("state", cid).returncode != 0

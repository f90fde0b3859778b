"""Bad input: a non-zero exit, one line on stderr naming the field or path, nothing left behind.

"Nothing left behind" (no state dir, cgroup, mount or process) is checked by the
``testctx`` finalizer after every test.
"""

from __future__ import annotations

import json

import pytest

import oci

pytestmark = pytest.mark.root


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_one_line_error(runtime, r, names, *, runc_fails_naming: str = "") -> str:
    """Non-zero exit and exactly one stderr line mentioning one of ``names``."""
    assert r.returncode != 0, f"succeeded: {r.stdout}"
    lines = error_lines(r.stderr)
    assert len(lines) == 1, f"want one error line, got:\n{r.stderr}"
    line = lines[0]
    if names and not any(n.lower() in line.lower() for n in names):
        if runtime.is_runc and runc_fails_naming:
            pytest.skip(f"runc 1.1.5 does not name it: {runc_fails_naming}: {line}")
        raise AssertionError(f"error does not name any of {names}: {line}")
    return line


def _malformed(cfg, bundle):
    (bundle / "config.json").write_text('{"ociVersion": "1.2.0", "process": ')


def _no_cwd(cfg, bundle):
    del cfg["process"]["cwd"]


def _relative_cwd(cfg, bundle):
    cfg["process"]["cwd"] = "tmp"


def _cwd_wrong_type(cfg, bundle):
    cfg["process"]["cwd"] = 5


def _unknown_ns(cfg, bundle):
    cfg["linux"]["namespaces"].append({"type": "bogusns"})


def _duplicate_ns(cfg, bundle):
    cfg["linux"]["namespaces"].append({"type": "pid"})


def _missing_rootfs(cfg, bundle):
    cfg["root"]["path"] = "missing-rootfs"


def _empty_args(cfg, bundle):
    cfg["process"]["args"] = []


def _bad_rlimit(cfg, bundle):
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]


def _hostname_without_uts(cfg, bundle):
    oci.drop_namespace(cfg, "uts")


def _ns_path_missing(cfg, bundle):
    oci.namespace(cfg, "network")["path"] = "/nonexistent/netns"


def _ns_path_wrong_type(cfg, bundle):
    oci.namespace(cfg, "network")["path"] = "/proc/self/ns/uts"


def _bind_source_missing(cfg, bundle):
    cfg["mounts"].append(
        {"destination": "/mnt", "type": "bind", "source": "/nonexistent-src", "options": ["bind"]}
    )


def _sysctl_not_allowed(cfg, bundle):
    cfg["linux"]["sysctl"] = {"kernel.hostname": "x"}


def _negative_uid(cfg, bundle):
    cfg["process"]["user"]["uid"] = -1


# (id, mutate(config, bundle), words of which the error must name one, runc's failing)
CASES = [
    ("malformed-json", _malformed, ["config.json"], "says only 'unexpected EOF'"),
    ("missing-cwd", _no_cwd, ["cwd"], ""),
    ("relative-cwd", _relative_cwd, ["cwd"], ""),
    ("cwd-not-a-string", _cwd_wrong_type, ["cwd"], ""),
    ("unknown-namespace", _unknown_ns, ["bogusns"], ""),
    ("duplicate-namespace", _duplicate_ns, ["pid"], ""),
    ("rootfs-missing", _missing_rootfs, ["missing-rootfs"], ""),
    ("empty-args", _empty_args, ["args"], ""),
    ("unknown-rlimit", _bad_rlimit, ["RLIMIT_BOGUS"], ""),
    ("hostname-without-uts", _hostname_without_uts, ["hostname", "uts"], ""),
    ("ns-path-missing", _ns_path_missing, ["/nonexistent/netns"], ""),
    ("ns-path-wrong-type", _ns_path_wrong_type, ["/proc/self/ns/uts", "network"], "3 lines"),
    ("bind-source-missing", _bind_source_missing, ["/nonexistent-src"], ""),
    ("sysctl-not-allowed", _sysctl_not_allowed, ["kernel.hostname"], ""),
    ("negative-uid", _negative_uid, ["uid"], ""),
]


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize(
    ("mutate", "names", "runc_fails"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_config(runtime, testctx, verb, mutate, names, runc_fails):
    cfg = testctx.config(["sh", "-c", "echo should-not-run"])
    b = testctx.bundle(cfg)
    mutate(cfg, b)
    if mutate is not _malformed:
        testctx.write_config(b, cfg)
    if mutate is _missing_rootfs:
        (b / "rootfs").rename(b / "elsewhere")
    cid = runtime.new_id()
    r = runtime.cli(verb, "--bundle", b, cid, timeout=15)
    if runtime.is_runc and mutate is _ns_path_wrong_type and len(error_lines(r.stderr)) > 1:
        assert r.returncode != 0
        pytest.skip("runc 1.1.5 prints three lines from nsexec for a namespace of the wrong type")
    assert_one_line_error(runtime, r, names, runc_fails_naming=runc_fails)
    assert "should-not-run" not in r.stdout
    assert runtime.cli("state", cid).returncode != 0
    assert cid not in runtime.cli("list", "-q").stdout.split()


@pytest.mark.parametrize("verb", ["state", "start", "kill", "delete"])
def test_unknown_container(runtime, verb):
    cid = runtime.new_id()
    r = runtime.cli(verb, cid)
    assert_one_line_error(runtime, r, [cid], runc_fails_naming="says 'container does not exist'")


def test_duplicate_id(runtime, bundle, config):
    b = bundle(oci.sh(config(), "echo started"))
    cid = runtime.create(b)
    r = runtime.cli("create", "--bundle", b, cid, timeout=15)
    try:
        assert_one_line_error(runtime, r, [cid], runc_fails_naming="'ID already exists'")
    finally:
        # the first container is untouched by the failed second create
        assert runtime.state(cid)["status"] == "created"
        runtime.start(cid)
        assert runtime.out[cid].readline() == "started"
        runtime.wait_status(cid, "stopped")
        runtime.delete(cid)


@pytest.mark.parametrize("bad_id", ["a/b", "..", "x" * 1025, "-leading-dash"])
def test_invalid_id(runtime, bundle, config, bad_id):
    r = runtime.cli("create", "--bundle", bundle(config()), bad_id, timeout=15)
    assert r.returncode != 0
    assert len(error_lines(r.stderr)) == 1, r.stderr


def test_missing_executable(runtime, bundle, config):
    """runc reports it at create; a runtime may also report it at start. Either way, cleanly."""
    b = bundle(oci.set_args(config(), "/bin/nonexistent-program"))
    cid = runtime.new_id()
    r = runtime.cli("create", "--bundle", b, cid, timeout=15)
    if r.returncode != 0:
        assert_one_line_error(runtime, r, ["/bin/nonexistent-program"])
        assert runtime.cli("state", cid).returncode != 0
        return
    r = runtime.start(cid, check=False)
    assert_one_line_error(runtime, r, ["/bin/nonexistent-program"])
    runtime.delete(cid, force=True)


def test_missing_executable_run(runtime, bundle, config):
    b = bundle(oci.set_args(config(), "nonexistent-program"))
    cid = runtime.new_id()
    r = runtime.run(b, cid, timeout=15)
    assert r.returncode != 0
    line = assert_one_line_error(runtime, r, ["nonexistent-program"])
    assert "Traceback" not in line
    assert runtime.cli("state", cid).returncode != 0


def test_unknown_properties_are_ignored(runtime, config):
    """runtime-spec: unknown properties MUST be ignored (runtime-tools misc_props)."""
    cfg = config()
    cfg["dockyardUnknown"] = {"x": [1, 2]}
    cfg["process"]["dockyardUnknown"] = True
    cfg["linux"]["dockyardUnknown"] = "x"
    assert runtime.sh_ok("echo ok", cfg) == "ok\n"


def test_unknown_capability_warns(runtime, config):
    cfg = config()
    for s in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][s].append("CAP_DOCKYARD_BOGUS")
    r = runtime.sh("echo ok", cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"
    assert "CAP_DOCKYARD_BOGUS" in r.stderr


def test_failed_prestart_hook_leaves_nothing(runtime, config, bundle):
    cfg = config()
    cfg["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}
    b = bundle(oci.sh(cfg, "echo should-not-run"))
    cid = runtime.new_id()
    r = runtime.cli("create", "--bundle", b, cid, timeout=15)
    assert r.returncode != 0
    assert runtime.cli("state", cid).returncode != 0


def test_state_json_is_valid(runtime, bundle, config):
    cid = runtime.create(bundle(config()))
    st = runtime.state(cid)
    # the fields of runtime-spec schema/state-schema.json
    assert set(st) >= {"ociVersion", "id", "status", "pid", "bundle"}
    json.dumps(st)
    runtime.delete(cid)


def test_log_file_json(runtime, testctx):
    """--log FILE --log-format json: errors go to the log as JSON lines (containerd reads it)."""
    cfg = testctx.config()
    _unknown_ns(cfg, None)
    b = testctx.bundle(cfg)
    log = testctx.tmp / "runtime-log.json"
    cid = runtime.track(testctx.new_id())
    r = runtime.cli("--log", log, "--log-format", "json", "run", "--bundle", b, cid, timeout=15)
    assert r.returncode != 0
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert entries, "nothing logged"
    assert all({"level", "msg"} <= set(e) for e in entries), entries
    errors = [e for e in entries if e["level"] == "error"]
    assert any("bogusns" in e["msg"] for e in errors), entries

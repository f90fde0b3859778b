"""dockyard-runtime's command line (runtime/cli.py): pure helpers, and commands that need
no container (--version, features, spec, errors for a container that does not exist)."""

from __future__ import annotations

import copy
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime import cli, cliargs
from dockyard.runtime.cliargs import Arguments, UsageError
from dockyard.runtime.errors import ConfigError

pytestmark = pytest.mark.unit


def parse(*argv: str) -> Arguments:
    return cliargs.parse(list(argv))


# --- signals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "number"),
    [("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("sigterm", 15), ("TERM", 15), ("HUP", 1),
     ("SIGUSR1", int(signal.SIGUSR1)), ("WINCH", int(signal.SIGWINCH)), ("9", 9), ("15", 15),
     ("0", 0), ("SIGRTMIN", int(signal.SIGRTMIN))],
)
def test_parse_signal(value: str, number: int) -> None:
    assert cli.parse_signal(value) == number


@pytest.mark.parametrize("value", ["NOPE", "SIGNOPE", "", "-9", "SIG", "9x", "K ILL"])
def test_parse_signal_unknown(value: str) -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        cli.parse_signal(value)


def test_kill_default_signal_is_sigterm() -> None:
    args = parse("kill", "c1")
    assert cli.parse_signal(args.signal) == signal.SIGTERM


# --- update flags ------------------------------------------------------------------------


def test_resources_from_flags_none() -> None:
    assert cli._resources_from_flags(parse("update", "c1")) == {}


def test_resources_from_flags_all() -> None:
    args = parse(
        "update", "--memory", "1048576", "--memory-swap", "-1", "--memory-reservation", "512k",
        "--kernel-memory", "1m", "--kernel-memory-tcp", "2M",
        "--cpu-shares", "512", "--cpu-quota", "50000", "--cpu-period", "100000",
        "--cpu-rt-runtime", "950000", "--cpu-rt-period", "1000000", "--cpuset-cpus", "0-1",
        "--cpuset-mems", "0", "--cpu-burst", "1000", "--pids-limit", "100",
        "--blkio-weight", "300", "c1",
    )
    assert cli._resources_from_flags(args) == {
        "memory": {"limit": 1048576, "swap": -1, "reservation": 512 * 1024,
                   "kernel": 1 << 20, "kernelTCP": 2 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "realtimeRuntime": 950000,
                "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0", "burst": 1000},
        "pids": {"limit": 100},
        "blockIO": {"weight": 300},
    }


def test_resources_from_flags_only_what_was_given() -> None:
    args = parse("update", "--cpuset-cpus", "1", "--pids-limit", "-1", "c1")
    assert cli._resources_from_flags(args) == {"cpu": {"cpus": "1"}, "pids": {"limit": -1}}


@pytest.mark.parametrize("flag", ["--memory", "--cpu-shares", "--pids-limit", "--blkio-weight"])
def test_resources_from_flags_bad_number(flag: str) -> None:
    with pytest.raises(ValueError):
        cli._resources_from_flags(parse("update", flag, "lots", "c1"))


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("4096", 4096), ("-1", -1), ("64k", 64 << 10), ("64K", 64 << 10),
     ("512m", 512 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("2t", 2 << 40), ("1p", 1 << 50),
     ("512KiB", 512 << 10), ("10MB", 10 << 20), ("1.5g", 3 << 29), ("100b", 100)],
)
def test_parse_size(text: str, size: int) -> None:
    assert cli.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "m", "lots", "1x", "1.5"])
def test_parse_size_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        cli.parse_size(text)


# --- exec's process -----------------------------------------------------------------------


CONTAINER_CONFIG: dict[str, Any] = {
    "ociVersion": "1.2.0",
    "process": {
        "args": ["sleep", "inf"],
        "cwd": "/srv",
        "env": ["PATH=/usr/bin:/bin", "A=1"],
        "terminal": True,
        "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 100, "gid": 101, "umask": 0o077, "additionalGids": [10]},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"]},
        "noNewPrivileges": False,
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
    },
}


def exec_args(*argv: str) -> Arguments:
    return parse("exec", *argv)


def test_exec_process_inherits_the_container_process() -> None:
    process = cli._exec_process(exec_args("c1", "ps", "aux"), CONTAINER_CONFIG)
    assert process.args == ("ps", "aux")
    assert process.cwd == "/srv"
    assert process.env == ("PATH=/usr/bin:/bin", "A=1")
    assert process.terminal is False  # only with --tty
    assert process.console_size is None
    assert (process.user.uid, process.user.gid) == (100, 101)
    assert process.user.umask == 0o077
    assert process.user.additional_gids == (10,)
    assert process.capabilities is not None and process.capabilities.bounding == ("CAP_KILL",)
    assert process.rlimits[0].soft == 1024


def test_exec_process_overrides() -> None:
    args = exec_args("--env", "A=2", "-e", "B=3", "--cwd", "/tmp", "--user", "1000:1001",
                     "--cap", "CAP_NET_ADMIN", "-c", "CAP_KILL", "--tty", "--no-new-privs",
                     "c1", "sh", "-c", "echo hi")
    process = cli._exec_process(args, CONTAINER_CONFIG)
    assert process.args == ("sh", "-c", "echo hi")
    assert process.env == ("PATH=/usr/bin:/bin", "A=1", "A=2", "B=3")
    assert process.env_value("A") == "2"
    assert process.cwd == "/tmp"
    assert (process.user.uid, process.user.gid) == (1000, 1001)
    assert process.terminal is True
    assert process.no_new_privileges is True
    caps = process.capabilities
    assert caps is not None
    for name in ("bounding", "effective", "permitted"):
        assert getattr(caps, name) == ("CAP_KILL", "CAP_NET_ADMIN")  # no duplicates
    # the kernel raises an ambient cap only if it is permitted and inheritable too
    assert set(caps.ambient) <= set(caps.permitted) & set(caps.inheritable)
    assert "CAP_NET_ADMIN" in caps.ambient


def test_exec_process_additional_gids() -> None:
    args = exec_args("--user", "5", "-g", "20", "-g", "21", "c1", "id")
    process = cli._exec_process(args, CONTAINER_CONFIG)
    assert process.user.uid == 5
    assert 20 in process.user.additional_gids and 21 in process.user.additional_gids


def test_exec_process_without_container_process() -> None:
    process = cli._exec_process(exec_args("c1", "true"), {"ociVersion": "1.2.0"})
    assert process.args == ("true",)
    assert process.cwd == "/"
    assert process.env == ()


def test_exec_process_needs_a_command() -> None:
    with pytest.raises(ValueError, match="exec needs a command or --process"):
        cli._exec_process(exec_args("c1"), CONTAINER_CONFIG)


def test_exec_process_from_file(scratch: Path) -> None:
    path = scratch / "process.json"
    path.write_text(json.dumps({"args": ["top"], "cwd": "/", "env": ["X=1"]}))
    process = cli._exec_process(exec_args("--process", str(path), "c1"), CONTAINER_CONFIG)
    assert process.args == ("top",) and process.env == ("X=1",)
    assert process.user.uid == 0  # nothing inherited from the container


def test_exec_process_file_is_validated(scratch: Path) -> None:
    path = scratch / "process.json"
    path.write_text(json.dumps({"args": ["top"], "cwd": "relative"}))
    with pytest.raises(ConfigError, match=r"^process\.cwd: "):
        cli._exec_process(exec_args("-p", str(path), "c1"), CONTAINER_CONFIG)


def test_exec_process_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"^process\.env\[2\]: "):
        cli._exec_process(exec_args("-e", "NOEQUALS", "c1", "true"), CONTAINER_CONFIG)
    with pytest.raises(ConfigError, match=r"^process\.cwd: "):
        cli._exec_process(exec_args("--cwd", "tmp", "c1", "true"), CONTAINER_CONFIG)
    with pytest.raises(ValueError):
        cli._exec_process(exec_args("--user", "root", "c1", "true"), CONTAINER_CONFIG)


def test_exec_user_without_gid_keeps_the_container_gid_and_umask() -> None:
    process = cli._exec_process(exec_args("--user", "1000", "-g", "20", "c1", "id"),
                                CONTAINER_CONFIG)
    assert (process.user.uid, process.user.gid) == (1000, 101)
    assert process.user.umask == 0o077
    assert process.user.additional_gids == (10, 20)


def test_exec_process_does_not_change_the_container_config() -> None:
    config = copy.deepcopy(CONTAINER_CONFIG)
    cli._exec_process(exec_args("-g", "20", "--cap", "CAP_CHOWN", "-e", "X=1", "c1", "id"),
                      config)
    assert config == CONTAINER_CONFIG


# --- main ----------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == f"dockyard-runtime version {cli.VERSION}\nspec: {cli.SPEC_VERSION}\n"
    assert cli.main(["-v"]) == 0


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: dockyard-runtime" in capsys.readouterr().out


def test_features(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["features"]) == 0
    features = json.loads(capsys.readouterr().out)
    assert features["ociVersionMax"] == cli.SPEC_VERSION == "1.2.0"
    assert features["ociVersionMin"].startswith("1.")
    assert set(features["linux"]["namespaces"]) == {
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"
    }
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert {"rbind", "ro", "rprivate", "rro", "nosymfollow"} <= set(features["mountOptions"])
    assert features["hooks"] == ["prestart", "createRuntime", "createContainer",
                                 "startContainer", "poststart", "poststop"]


def test_state_of_missing_container(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(scratch), "state", "nope"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "'nope'" in lines[0] and "does not exist" in lines[0]
    assert lines[0].startswith("dockyard-runtime: ")


@pytest.mark.parametrize("command", [["start"], ["kill"], ["pause"], ["resume"], ["ps"],
                                     ["delete"], ["exec"]])
def test_commands_on_missing_container(scratch: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch,
                                       command: list[str]) -> None:
    # exec first marks inherited fds close-on-exec: not in the test process
    monkeypatch.setattr(cli, "_protect_inherited_fds", lambda preserve: None)
    argv = ["--root", str(scratch), *command, "nope"]
    if command == ["exec"]:
        argv.append("true")
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'nope'" in err


def test_delete_force_of_missing_container(scratch: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(scratch), "delete", "--force", "nope"]) == 0
    assert capsys.readouterr().err == ""


def test_invalid_id(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(scratch), "state", "../x"]) == 1
    err = capsys.readouterr().err
    assert err == "dockyard-runtime: invalid container id '../x'\n"


def test_error_is_logged_as_json(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = scratch / "runtime.log"
    argv = ["--root", str(scratch), "--log", str(log), "--log-format", "json", "state", "nope"]
    assert cli.main(argv) == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["level"] == "error"
    assert "'nope'" in records[0]["msg"]
    assert records[0]["time"]
    capsys.readouterr()


def test_list_empty_root(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(scratch / "none"), "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["--root", str(scratch / "none"), "list", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_spec_writes_config_once(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["spec", "--bundle", str(scratch)]) == 0
    spec = json.loads((scratch / "config.json").read_text())
    assert spec["ociVersion"].startswith("1.")
    assert spec["process"]["args"] == ["sh"]
    assert not (scratch / "config.json.tmp").exists()
    assert cli.main(["spec", "--bundle", str(scratch)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_one_line() -> None:
    assert cli._one_line(ValueError("a\nb  c")) == "a b c"
    assert cli._one_line(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "/x: No such file or directory"
    )
    assert cli._one_line(OSError(1, "Operation not permitted")) == "Operation not permitted"


@pytest.mark.parametrize("argv", [["kill"], ["nonsense"], ["--log-format", "xml", "list"]])
def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dockyard-runtime") and err.count("\n") == 1, err


def test_parser_grammar() -> None:
    args = parse("--root", "/r", "--log-format=json", "exec", "-t", "--env", "A=1", "-e", "B=2",
                 "-g", "5", "c1", "sh", "-c", "echo -n hi")
    assert (args.root, args.log_format, args.command) == ("/r", "json", "exec")
    assert args.tty and args.env == ["A=1", "B=2"] and args.additional_gids == [5]
    assert (args.container_id, args.args) == ("c1", ["sh", "-c", "echo -n hi"])
    kill = parse("kill", "--all", "c1", "KILL")
    assert (kill.all, kill.container_id, kill.signal) == (True, "c1", "KILL")
    assert parse("kill", "c1").signal == "SIGTERM"
    assert parse("ps", "-f", "json", "c1").ps_args == []
    assert parse("run", "-d", "--bundle", "/b", "--preserve-fds", "2", "c").preserve_fds == 2


@pytest.mark.parametrize("argv, message", [
    (["create"], "create: missing container id"),
    (["start", "a", "b"], "start: unexpected argument 'b'"),
    (["create", "--bogus", "c"], "unknown flag '--bogus'"),
    (["create", "--pid-file"], "flag --pid-file needs a value"),
    (["run", "--preserve-fds", "x", "c"], "flag --preserve-fds: 'x' is not a number"),
])
def test_parser_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cliargs.parse(argv)


def test_command_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exec", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dockyard-runtime exec [flags] CONTAINER_ID [ARGS...]")
    assert "--console-socket" in out

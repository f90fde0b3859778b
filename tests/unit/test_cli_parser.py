"""The docker CLI grammar: global options, flags (pflag), argument counts, help texts and
misuse messages, checked against docker 28.2.2's own help captured in test data."""

from __future__ import annotations

import io

import pytest
from test_cli_helpdata import DOCKER_HELP

from dockyard.cli import flags
from dockyard.cli.helptexts import HELP
from dockyard.cli.main import COMMANDS, MANAGEMENT, main

pytestmark = pytest.mark.unit


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO())
    return status, out.getvalue(), err.getvalue()


PS = flags.options_from_help(HELP["ps"])


def parse(*argv: str) -> flags.Parsed:
    return flags.parse(list(argv), PS)


# --- flags -----------------------------------------------------------------------------


def test_options_from_help() -> None:
    by_long = {o.long: o for o in PS}
    assert set(by_long) == {"all", "filter", "format", "last", "latest", "no-trunc", "quiet",
                            "size"}
    assert by_long["all"] == flags.Option("all", "a", None)
    assert by_long["filter"].type == "filter"
    assert by_long["last"].type == "int"
    human = {o.long: o for o in flags.options_from_help(HELP["history"])}["human"]
    assert human.default_true


@pytest.mark.parametrize(("argv", "values", "args"), [
    (["-a"], {"all": True}, []),
    (["-aq"], {"all": True, "quiet": True}, []),
    (["-n", "3"], {"last": 3}, []),
    (["-n3"], {"last": 3}, []),
    (["-n=3"], {"last": 3}, []),
    (["--last", "3"], {"last": 3}, []),
    (["--last=-1"], {"last": -1}, []),
    (["--all=false"], {"all": False}, []),
    (["-a=false"], {"all": False}, []),
    (["--format", "{{.ID}}"], {"format": "{{.ID}}"}, []),
    (["-f", "a=1", "--filter=b=2"], {"filter": ["a=1", "b=2"]}, []),
    (["x", "-a", "y"], {"all": True}, ["x", "y"]),
    (["--", "-a"], {"all": False}, ["-a"]),
    (["-"], {}, ["-"]),
])
def test_parse(argv: list[str], values: dict[str, object], args: list[str]) -> None:
    parsed = parse(*argv)
    for key, value in values.items():
        assert parsed.values[key] == value
    assert parsed.args == args


def test_parse_defaults() -> None:
    p = flags.parse([], flags.options_from_help(HELP["history"]))
    assert p.human is True and p.quiet is False and p.format is None
    assert parse().filter == []


def test_not_interspersed() -> None:
    p = flags.parse(["c", "-ef"], [], interspersed=False)
    assert p.args == ["c", "-ef"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--bar"], "unknown flag: --bar"),
    (["-z"], "unknown shorthand flag: 'z' in -z"),
    (["-az"], "unknown shorthand flag: 'z' in -az"),
    (["--format"], "flag needs an argument: --format"),
    (["-f"], "flag needs an argument: 'f' in -f"),
    (["-n", "x"], 'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing '
                  '"x": invalid syntax'),
    (["--all=maybe"], 'invalid argument "maybe" for "-a, --all" flag: strconv.ParseBool: '
                      'parsing "maybe": invalid syntax'),
])
def test_parse_errors(argv: list[str], message: str) -> None:
    with pytest.raises(flags.FlagError) as info:
        parse(*argv)
    assert str(info.value) == message


# --- misuse through main ---------------------------------------------------------------


def test_unknown_flag_message() -> None:
    assert run("ps", "--bar") == (125, "", (
        "unknown flag: --bar\n\nUsage:  dockyard ps [OPTIONS]\n\n"
        "Run 'dockyard ps --help' for more information\n"))


def test_unknown_shorthand_in_subcommand_form() -> None:
    status, _, err = run("container", "ls", "-z")
    assert status == 125
    assert err == ("unknown shorthand flag: 'z' in -z\n\nUsage:  dockyard container ls "
                   "[OPTIONS]\n\nRun 'dockyard container ls --help' for more information\n")


def test_unknown_command() -> None:
    assert run("foo") == (1, "", "dockyard: unknown command: dockyard foo\n\n"
                                 "Run 'dockyard --help' for more information\n")
    status, _, err = run("image", "foo")
    assert status == 1
    assert err.startswith("dockyard: unknown command: dockyard image foo\n")


def test_unknown_global_flag() -> None:
    status, _, err = run("--bogus")
    assert status == 125
    assert err.startswith("unknown flag: --bogus\n\nUsage:  dockyard [OPTIONS] COMMAND [ARG...]")


@pytest.mark.parametrize(("argv", "message", "see"), [
    (["rm"], "'dockyard rm' requires at least 1 argument", "See"),
    (["history", "a", "b"], "'dockyard history' requires 1 argument", "Run"),
    (["tag", "a"], "'dockyard tag' requires 2 arguments", "Run"),
    (["images", "a", "b"], "'dockyard images' requires at most 1 argument", "Run"),
    (["ps", "x"], "'dockyard ps' accepts no arguments", "Run"),
])
def test_argument_counts(argv: list[str], message: str, see: str) -> None:
    status, out, err = run(*argv)
    assert status == 1 and out == ""
    first, _, usage, _, last = err.splitlines()
    assert first == f"dockyard: {message}"
    assert usage.startswith(f"Usage:  dockyard {argv[0]} ")
    assert last == f"{see} 'dockyard {argv[0]} --help' for more information"


def test_version_flags() -> None:
    from dockyard import __version__
    assert run("--version") == (0, f"dockyard version {__version__}\n", "")
    assert run("-v") == (0, f"dockyard version {__version__}\n", "")


# --- help ------------------------------------------------------------------------------


def _docker(text: str) -> str:
    return text.replace("docker ", "dockyard ")


@pytest.mark.parametrize("key", sorted(k for k in DOCKER_HELP if k))
def test_command_help_is_dockers(key: str) -> None:
    status, out, _ = run(*key.split(), "--help")
    assert status == 0
    docker = DOCKER_HELP[key]
    ours = out.splitlines()
    theirs = docker.rstrip("\n").splitlines()
    assert ours[0] == _docker(theirs[0])  # usage pattern
    assert ours[2] == theirs[2]  # description
    # every option line, with its explanation
    assert [ln for ln in ours if ln.lstrip().startswith("-")] == [
        ln for ln in theirs if ln.lstrip().startswith("-")]
    assert len(ours) == len(theirs)


@pytest.mark.parametrize("key", ["ps", "image ls", "logs"])
def test_help_command_forms(key: str) -> None:
    via_help = run("help", *key.split())
    via_flag = run(*key.split(), "--help")
    assert via_help == via_flag
    assert via_help[1] == _docker(DOCKER_HELP[key])


def test_unknown_help_topic() -> None:
    assert run("help", "nope") == (1, "", "unknown help topic: nope\n")


def test_global_help() -> None:
    status, out, _ = run("--help")
    assert status == 0
    assert run("help") == run("--help") == run()
    docker = DOCKER_HELP[""].splitlines()
    assert out.splitlines()[0] == "Usage:  dockyard [OPTIONS] COMMAND"
    for line in docker:
        name = line.split()[0] if line.startswith("  ") and not line.startswith("   ") else ""
        if name in COMMANDS or name in MANAGEMENT:
            assert line.rstrip(".") in out.splitlines(), line
    for option in ("-H, --host list", "-D, --debug", "-l, --log-level string",
                   "--config string", "-v, --version"):
        assert option in out
    assert "  run " in out and "  exec " in out


def test_management_help() -> None:
    status, out, _ = run("image")
    assert status == 0
    assert out.startswith("Usage:  dockyard image COMMAND\n\nManage images\n\nCommands:\n")
    docker_image = _docker(run("image", "--help")[1])
    assert out == docker_image
    assert "  ls          List images\n" in out
    assert "  build " not in out


def test_every_command_has_docker_help() -> None:
    for name in COMMANDS:
        assert name in HELP and name in DOCKER_HELP
    for group, (_doc, subs) in MANAGEMENT.items():
        for sub in subs:
            status, out, _ = run(group, sub, "--help")
            assert status == 0 and out.startswith("Usage:  dockyard "), (group, sub)

"""Start-up guard: ``dockyard version`` imports none of the stdlib modules that cost
milliseconds (re, enum, typing, json, socket, ...), checked with ``-X importtime`` in a
fresh interpreter that really talks to a (fake) daemon. And the hand-written pieces that
replace them (the help-text option matcher) agree with what they replace."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_client_fakedaemon import FakeDaemon, Reply

import dockyard
from dockyard.cli import flags, template
from dockyard.cli.commands import volumes
from dockyard.cli.helptexts import HELP

pytestmark = pytest.mark.unit

# each costs start-up (re, enum, typing, json: several ms on a slow machine together);
# socket drags in enum and selectors; collections and functools come with re and enum
SLOW_MODULES = ["re", "enum", "typing", "json", "socket", "collections", "functools",
                "selectors", "struct", "importlib", "urllib", "base64"]

SERVER_VERSION = {
    "Platform": {"Name": "fake Engine"}, "Version": "9.9.9", "ApiVersion": "1.44",
    "MinAPIVersion": "1.24", "GitCommit": "abc", "GoVersion": "python3", "Os": "linux",
    "Arch": "amd64", "BuildTime": "", "Experimental": False,
    "Components": [{"Name": "Engine", "Version": "9.9.9", "Details": {
        "ApiVersion": "1.44", "MinAPIVersion": "1.24", "GitCommit": "abc",
        "GoVersion": "python3", "Os": "linux", "Arch": "amd64", "BuildTime": "",
        "Experimental": "false"}}],
}


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    d = FakeDaemon().start()
    yield d
    d.stop()


def imported_modules(*argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the CLI in a fresh interpreter with ``-X importtime``: its result and the
    modules it imported, in order. ``-S``: no site hooks (.pth files, sitecustomize)
    that would import things of their own; the CLI needs nothing from site-packages."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = src
    proc = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c",
         "import sys; from dockyard.cli.main import main; sys.exit(main())", *argv],
        capture_output=True, text=True, env=env, timeout=60)
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and line.count("|") == 2]
    return proc, names[1:]  # [0] is the header ("imported package")


def test_version_imports_nothing_slow(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/version", Reply(json_body=SERVER_VERSION))
    proc, modules = imported_modules("-H", daemon.host, "version")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # it did the whole job: asked the daemon and printed both halves
    assert daemon.last("GET", "/version").raw_path == "/v1.44/version"
    assert "Server: fake Engine" in proc.stdout and " Version:          9.9.9" in proc.stdout
    # the import log is what we think it is (else the check below proves nothing)
    for expected in ("os", "dockyard.cli.main", "dockyard.cli.commands.system",
                     "dockyard.client.transport", "dockyard.client.jsonio", "_socket", "_json"):
        assert expected in modules, modules
    slow = [m for m in modules if m.split(".")[0] in SLOW_MODULES]
    assert slow == [], f"`dockyard version` imports {slow}"


NOW = int(time.time())
CONTAINERS = [
    {"Id": "1" * 64, "Names": ["/web"], "Image": "nginx:latest", "ImageID": "sha256:" + "a" * 64,
     "Command": "nginx -g 'daemon off;'", "Created": NOW - 300,
     "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
               {"PrivatePort": 443, "Type": "tcp"}, {"PrivatePort": 444, "Type": "tcp"}],
     "Labels": {"a": "b"}, "State": "running", "Status": "Up 5 minutes", "Mounts": [],
     "NetworkSettings": {"Networks": {"bridge": {}}}},
]
IMAGES = [{"Id": "sha256:" + "a" * 64, "ParentId": "", "RepoTags": ["busybox:latest"],
           "RepoDigests": [], "Created": NOW - 7200, "Size": 4_261_000, "SharedSize": -1,
           "Labels": {}, "Containers": -1}]
VOLUMES = {"Volumes": [{"Name": n, "Driver": "local", "Mountpoint": f"/v/{n}", "Labels": None,
                        "Scope": "local", "Options": None} for n in ("v10", "v9", "data")],
           "Warnings": None}
NETWORKS = [{"Name": n, "Id": c * 64, "Created": "2026-11-28T15:52:52.123456789Z",
             "Scope": "local", "Driver": "bridge", "Labels": {}}
            for n, c in (("net10", "a"), ("net9", "b"), ("bridge", "c"))]

# (command line, routes, text the output must contain)
SIMPLE_COMMANDS = [
    (["ps", "-a"], [("GET", "/containers/json", Reply(json_body=CONTAINERS))],
     "443-444/tcp, 0.0.0.0:8080->80/tcp   web"),
    (["ps", "--format", "{{.Names}} {{.Label \"a\"}} {{printf \"%5.5s|%d\" .ID 7}}"],
     [("GET", "/containers/json", Reply(json_body=CONTAINERS))], "web b 11111|7"),
    (["images"], [("GET", "/images/json", Reply(json_body=IMAGES))], "busybox      latest"),
    (["volume", "ls"], [("GET", "/volumes", Reply(json_body=VOLUMES))],
     "local     data\nlocal     v9\nlocal     v10"),
    (["network", "ls"], [("GET", "/networks", Reply(json_body=NETWORKS))],
     "net9      bridge    local\n"),
    (["rm", "-f", "web"], [("DELETE", "/containers/web", Reply(204))], "web"),
    (["stop", "web"], [("POST", "/containers/web/stop", Reply(204))], "web"),
    (["tag", "busybox", "mine:1"], [("POST", "/images/busybox/tag", Reply(201))], ""),
    (["info"], [("GET", "/info", Reply(json_body={"Containers": 3, "NCPU": 2}))],
     " Containers: 3\n"),
    (["run", "-d", "busybox", "sleep", "300"],
     [("POST", "/containers/create", Reply(201, {"Id": "c" * 64, "Warnings": []})),
      ("POST", "/containers/c+/start", Reply(204))], "c" * 64),
]


@pytest.mark.parametrize(("argv", "routes", "expected"), SIMPLE_COMMANDS,
                         ids=[" ".join(c[0][:2]) for c in SIMPLE_COMMANDS])
def test_simple_commands_import_nothing_slow(daemon: FakeDaemon, argv: list[str],
                                             routes: list[tuple[str, str, Reply]],
                                             expected: str) -> None:
    for method, path, reply in routes:
        daemon.route(method, path, reply)
    proc, modules = imported_modules("-H", daemon.host, *argv)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expected in proc.stdout
    assert [r for r in daemon.requests if r.method == routes[0][0]], "no request was made"
    assert "dockyard.client.transport" in modules
    assert [m for m in modules if m.split(".")[0] in SLOW_MODULES] == []


def test_version_without_daemon_imports_nothing_slow(tmp_path: Path) -> None:
    proc, modules = imported_modules("-H", f"unix://{tmp_path}/none.sock", "version")
    assert proc.returncode == 1
    assert proc.stdout.startswith("Client:\n")
    assert "Cannot connect to the dockyard daemon" in proc.stderr
    assert "dockyard.client.transport" in modules
    assert [m for m in modules if m.split(".")[0] in SLOW_MODULES] == []


# --- the option matcher that replaced a regex ------------------------------------------

OPTION_RE = re.compile(r"^ +(?:-(\w), )?--([\w-]+)(?: (\w[\w-]*))?\s{2,}")


def regex_match(line: str) -> tuple[str | None, str, str | None, int] | None:
    m = OPTION_RE.match(line)
    return (m.group(1), m.group(2), m.group(3), m.end()) if m else None


def test_option_matcher_agrees_with_regex_on_every_help_line() -> None:
    lines = [line for text in HELP.values() for line in text.splitlines()]
    matched = 0
    for line in lines:
        expected = regex_match(line)
        assert flags.match_option(line) == expected, line
        matched += expected is not None
    assert matched > 500  # the help texts really are option tables


@pytest.mark.parametrize("line", [
    "  -a, --all             Show all", "      --format string   Format", "  --x  y",
    "  -a, --all", "  -a,--all   x", "  - a, --all   x", "  --all x", "  --all x  y",
    "  --all \tx", "  --all string\t\tdesc", "  -é, --été ünïcode  x", "--all   x",
    "   --   x", "  --a-b_c d-e_f  g", "  -a, -all   x", "  --all  ", "  --all x ",
    "  --all\u00a0\u00a0x", "  -_, --_  x", "  --all -x  y",
])
def test_option_matcher_edge_cases(line: str) -> None:
    assert flags.match_option(line) == regex_match(line)


def test_option_matcher_random_lines() -> None:
    rng = random.Random(4)
    alphabet = [" ", " ", "-", "-", "a", "Z", "_", ",", "\t", "é", "1", "=", "\u00a0"]
    prefixes = ["", " ", "  -a, --", "  --", "  -é, --", " -a,--", "  - a, --"]
    for _ in range(20000):
        line = rng.choice(prefixes) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert flags.match_option(line) == regex_match(line), repr(line)


# --- the template tokenizer, number literals and printf that replaced regexes ----------

TOKEN_RE = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*"|`[^`]*`)|(\|)|(\()|(\))|([^\s|()]+))')


def regex_tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group(1):
            s = m.group(1)
            out.append(("str", json.loads(s) if s[0] == '"' else s[1:-1]))
        elif m.group(2):
            out.append(("pipe", "|"))
        elif m.group(3):
            out.append(("(", "("))
        elif m.group(4):
            out.append((")", ")"))
        elif m.group(5):
            out.append(("word", m.group(5)))
    return out


def regex_printf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def repl(m: re.Match[str]) -> str:
        verb = m.group(0)
        if verb == "%%":
            return "%"
        v = next(it, template.MISSING)
        if verb[-1] == "q":
            return json.dumps(template.go_str(v))
        if verb[-1] == "d" and isinstance(v, int | float):
            return (verb[:-1] + "d") % int(v)
        return (verb[:-1] + "s") % template.go_str(v)

    return re.sub(r"%[-+ 0-9.]*[sdvq]|%%", repl, fmt)


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("text", [
    '.Names | upper', '"a\\"b" `raw "x"` (len .X)|printf "%d"', '"unclosed', '`unclosed',
    '"bad\\x"', '"nl\\\n"', '  .A.B  ', '"a"b', 'printf "%s\\t%s" .A .B', '\u2003.A\u2003',
])
def test_tokens_agree_with_regex(text: str) -> None:
    assert outcome(template._tokens, text) == outcome(regex_tokens, text)


def test_tokens_printf_and_numbers_agree_with_regexes_on_random_input() -> None:
    rng = random.Random(5)
    chars = ['"', "`", "\\", " ", "\n", "|", "(", ")", "a", ".", "-", "1", "\u00e9", "\u2003"]
    for _ in range(20000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 10)))
        assert outcome(template._tokens, text) == outcome(regex_tokens, text), repr(text)
    verbs = ["%", "s", "d", "v", "q", "-", "+", " ", "0", "9", ".", "x", "%%"]
    values = [1, 2.5, "\u00e9", None, [1], True]
    for _ in range(20000):
        fmt = "".join(rng.choice(verbs) for _ in range(rng.randint(0, 8)))
        args = [rng.choice(values) for _ in range(rng.randint(0, 3))]
        assert (outcome(template._printf, fmt, *args)
                == outcome(regex_printf, fmt, *args)), (fmt, args)
    digits = ["-", "1", "0", ".", "\u0663", "\u00b2", "a", "+"]
    for _ in range(20000):
        word = "".join(rng.choice(digits) for _ in range(rng.randint(1, 5)))
        assert template._is_int(word) == bool(re.fullmatch(r"-?\d+", word)), word
        assert template._is_float(word) == bool(re.fullmatch(r"-?\d+\.\d*", word)), word
        assert volumes.split_digits(word) == re.split(r"(\d+)", word), word


def test_natural_key_is_cmp_to_key_of_natural_less() -> None:
    import functools

    from dockyard.cli import netopts

    def cmp(x: str, y: str) -> int:
        return -1 if netopts.natural_less(x, y) else (1 if netopts.natural_less(y, x) else 0)

    rng = random.Random(6)
    names = ["".join(rng.choice("ab01.9") for _ in range(rng.randint(0, 6))) for _ in range(500)]
    assert (sorted(names, key=netopts.natural_key)
            == sorted(names, key=functools.cmp_to_key(cmp)))
    a, b = netopts.natural_key("a01"), netopts.natural_key("a1")
    k = functools.cmp_to_key(cmp)
    assert [a < b, a > b, a <= b, a >= b, a == b] == [
        k("a01") < k("a1"), k("a01") > k("a1"), k("a01") <= k("a1"), k("a01") >= k("a1"),
        k("a01") == k("a1")]

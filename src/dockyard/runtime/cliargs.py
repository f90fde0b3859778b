"""The command line grammar of runc, as a table, and its parser.

Not argparse: the runtime CLI starts a fresh interpreter for every container
operation, and argparse with its help formatter pulls in gettext, locale and
shutil (with bz2 and lzma) — about 12 ms, a tenth of a `run`. runc's grammar is
small and fixed: global flags, a command, its flags, then positionals; `exec` and
`ps` take everything after the container id as the process's arguments.
"""

from __future__ import annotations


class UsageError(Exception):
    """A malformed command line; its message is one line."""


class Flag:
    """kind: "bool", "str", "int", "list" (repeatable str) or "ints" (repeatable int)."""

    def __init__(self, names: str, kind: str = "bool", default: object = None,
                 help_text: str = "") -> None:
        self.names = tuple(names.split())
        self.dest = self.names[0].lstrip("-").replace("-", "_")
        self.kind = kind
        if default is None and kind in ("list", "ints"):
            default = []
        elif default is None and kind == "bool":
            default = False
        self.default = default
        self.help = help_text


class Command:
    def __init__(self, name: str, help_text: str, flags: tuple[Flag, ...] = (),
                 positionals: tuple[str, ...] = ("container_id",),
                 optional: tuple[tuple[str, str], ...] = (), rest: str | None = None) -> None:
        self.name, self.help, self.flags = name, help_text, flags
        self.positionals, self.optional, self.rest = positionals, optional, rest


class Arguments:
    """Parsed arguments as attributes, like argparse's Namespace."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Arguments({self.__dict__!r})"


GLOBAL_FLAGS = (
    Flag("--root", "str", "/run/dockyard/runtime", "directory for container state"),
    Flag("--log", "str", "", "also write errors and debug output to this file"),
    Flag("--log-format", "str", "text", "text or json"),
    Flag("--debug", help_text="debug logging"),
    Flag("--systemd-cgroup", help_text="not supported: cgroupfs is always used"),
    Flag("--rootless", "str", "auto", "accepted for compatibility"),
    Flag("--version -v", help_text="print the version"),
    Flag("--help -h", help_text="show this help"),
)
_CREATE_FLAGS = (
    Flag("--bundle -b", "str", ".", "the bundle directory"),
    Flag("--console-socket", "str", help_text="AF_UNIX socket to receive the pty master"),
    Flag("--pid-file", "str", help_text="write the init's pid here"),
    Flag("--preserve-fds", "int", 0, "pass N extra fds (3 .. 3+N-1)"),
    Flag("--no-pivot", help_text="chroot instead of pivot_root (ramdisk roots)"),
    Flag("--no-new-keyring", help_text="keep the caller's session keyring"),
    Flag("--pidfd-socket", "str", help_text="accepted for compatibility"),
)
_UPDATE_VALUES = (
    "memory", "memory-swap", "memory-reservation", "kernel-memory", "kernel-memory-tcp",
    "cpu-shares", "cpu-quota", "cpu-period", "cpu-rt-runtime", "cpu-rt-period", "cpuset-cpus",
    "cpuset-mems", "pids-limit", "blkio-weight", "cpu-burst",
)

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("create", "create a container", _CREATE_FLAGS),
    Command("run", "create and start a container", (
        *_CREATE_FLAGS,
        Flag("--detach -d", help_text="do not wait for the container"),
        Flag("--keep", help_text="do not delete the container when it exits"),
        Flag("--no-subreaper", help_text="do not become a subreaper"),
    )),
    Command("start", "start a created container"),
    Command("state", "print a container's state"),
    Command("pause", "freeze a container"),
    Command("resume", "thaw a container"),
    Command("kill", "send a signal to a container's init",
            (Flag("--all -a", help_text="signal every process of the container"),),
            optional=(("signal", "SIGTERM"),)),
    Command("delete", "delete a container",
            (Flag("--force -f", help_text="kill it first if it runs"),)),
    Command("exec", "run a process in a container", (
        Flag("--process -p", "str", help_text="process.json to run"),
        Flag("--tty -t", help_text="allocate a pseudo-terminal"),
        Flag("--cwd", "str"),
        Flag("--env -e", "list"),
        Flag("--user -u", "str", help_text="UID[:GID]"),
        Flag("--additional-gids -g", "ints"),
        Flag("--cap -c", "list"),
        Flag("--detach -d"),
        Flag("--pid-file", "str"),
        Flag("--console-socket", "str"),
        Flag("--no-new-privs"),
        Flag("--preserve-fds", "int", 0),
        Flag("--ignore-paused"),
        Flag("--apparmor", "str"),
        Flag("--process-label", "str"),
        Flag("--cgroup", "str"),
    ), rest="args"),
    Command("ps", "list a container's processes",
            (Flag("--format -f", "str", "table", "table or json"),), rest="ps_args"),
    Command("list", "list containers", (
        Flag("--format -f", "str", "table", "table or json"),
        Flag("--quiet -q", help_text="only ids"),
    ), positionals=()),
    Command("spec", "write Docker's default config.json", (
        Flag("--bundle -b", "str", "."),
        Flag("--rootless"),
    ), positionals=()),
    Command("update", "change a container's resource limits", (
        Flag("--resources -r", "str", help_text="linux.resources JSON file, - for stdin"),
        *(Flag(f"--{name}", "str") for name in _UPDATE_VALUES),
    )),
    Command("features", "show what this runtime supports", positionals=()),
)}

_CHOICES = {"log_format": ("text", "json"), "format": ("table", "json")}


def parse(argv: list[str]) -> Arguments:
    tokens = list(argv)
    values = _defaults(GLOBAL_FLAGS)
    index = _parse_flags(tokens, 0, GLOBAL_FLAGS, values, stop_at_positional=True)
    if index >= len(tokens):
        values["command"] = None
        return Arguments(**values)
    name = tokens[index]
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(f"unknown command {name!r}")
    values["command"] = name
    values.update(_defaults(command.flags))
    values["help"] = values.get("help", False)
    positionals: list[str] = []
    wanted = len(command.positionals) + len(command.optional)
    index += 1
    while index < len(tokens):
        token = tokens[index]
        done_with_flags = command.rest is not None and len(positionals) == len(command.positionals)
        if done_with_flags and command.positionals:
            values[command.rest] = tokens[index:]  # type: ignore[index]
            index = len(tokens)
            break
        if token == "--":
            index += 1
            if command.rest is not None and len(positionals) >= len(command.positionals):
                values[command.rest] = tokens[index:]
                index = len(tokens)
            continue
        if token.startswith("-") and token != "-":
            if token in ("-h", "--help"):
                values["help"] = True
                index += 1
                continue
            index = _parse_flags(tokens, index, command.flags, values, stop_at_positional=True)
            continue
        if len(positionals) >= wanted:
            raise UsageError(f"{name}: unexpected argument {token!r}")
        positionals.append(token)
        index += 1
    if values.get("help"):
        return Arguments(**values)
    if len(positionals) < len(command.positionals):
        missing = command.positionals[len(positionals)]
        raise UsageError(f"{name}: missing {missing.replace('_', ' ')}")
    for key, value in zip(command.positionals, positionals, strict=False):
        values[key] = value
    for offset, (key, default) in enumerate(command.optional):
        position = len(command.positionals) + offset
        values[key] = positionals[position] if position < len(positionals) else default
    if command.rest is not None:
        values.setdefault(command.rest, [])
    return Arguments(**values)


def _defaults(flags: tuple[Flag, ...]) -> dict[str, object]:
    return {flag.dest: (list(flag.default) if isinstance(flag.default, list) else flag.default)
            for flag in flags}


def _parse_flags(tokens: list[str], index: int, flags: tuple[Flag, ...],
                 values: dict[str, object], stop_at_positional: bool) -> int:
    """Consume consecutive flags from `index`; returns the index after them."""
    by_name = {name: flag for flag in flags for name in flag.names}
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("-") or token in ("-", "--"):
            return index
        name, has_value, inline = token.partition("=")
        flag = by_name.get(name)
        if flag is None:
            raise UsageError(f"unknown flag {name!r}")
        index += 1
        if flag.kind == "bool":
            if has_value:
                values[flag.dest] = inline.lower() in ("1", "true", "yes")
            else:
                values[flag.dest] = True
            continue
        if not has_value:
            if index >= len(tokens):
                raise UsageError(f"flag {name} needs a value")
            inline = tokens[index]
            index += 1
        values[flag.dest] = _convert(flag, name, inline, values.get(flag.dest))
    return index


def _convert(flag: Flag, name: str, text: str, current: object) -> object:
    if flag.kind in ("int", "ints"):
        try:
            number = int(text)
        except ValueError:
            raise UsageError(f"flag {name}: {text!r} is not a number") from None
        if flag.kind == "int":
            return number
        return [*current, number]  # type: ignore[misc]
    if flag.kind == "list":
        return [*current, text]  # type: ignore[misc]
    choices = _CHOICES.get(flag.dest)
    if choices and text not in choices:
        raise UsageError(f"flag {name}: {text!r} is not one of {', '.join(choices)}")
    return text


def usage(command: str | None = None) -> str:
    if command is None:
        lines = ["usage: dockyard-runtime [global flags] COMMAND [flags] [args]", "",
                 "global flags:"]
        lines += _flag_lines(GLOBAL_FLAGS)
        lines += ["", "commands:"]
        lines += [f"  {c.name:<10} {c.help}" for c in COMMANDS.values()]
        return "\n".join(lines)
    spec = COMMANDS[command]
    args = " ".join([*(p.upper() for p in spec.positionals),
                     *(f"[{o.upper()}]" for o, _ in spec.optional),
                     *([f"[{spec.rest.upper()}...]"] if spec.rest else [])])
    lines = [f"usage: dockyard-runtime {command} [flags] {args}".rstrip(), "", spec.help]
    if spec.flags:
        lines += ["", "flags:", *_flag_lines(spec.flags)]
    return "\n".join(lines)


def _flag_lines(flags: tuple[Flag, ...]) -> list[str]:
    lines = []
    for flag in flags:
        names = ", ".join(flag.names)
        value = "" if flag.kind == "bool" else " VALUE"
        lines.append(f"  {names + value:<28} {flag.help}".rstrip())
    return lines

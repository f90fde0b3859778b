"""``dockyard``: the docker CLI's grammar in front of the Engine API client.

Start-up stays cheap: this module imports only the standard library's basics; a command's
module (and the client) is imported when that command runs. The help texts and option
tables are docker's own (``helptexts``), so ``COMMAND --help`` and the flags match docker.
"""

from __future__ import annotations

import os
import sys

from .context import CLIError, Context, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

PROG = "dockyard"

# name -> (module in cli.commands, function, fewest arguments, most arguments or None)
COMMANDS: dict[str, tuple[str, str, int, int | None]] = {
    "version": ("system", "version", 0, 0),
    "info": ("system", "info", 0, 0),
    "images": ("images", "images", 0, 1),
    "pull": ("images", "pull", 1, 1),
    "push": ("images", "push", 1, 1),
    "tag": ("images", "tag", 2, 2),
    "rmi": ("images", "rmi", 1, None),
    "history": ("images", "history", 1, 1),
    "save": ("images", "save", 1, None),
    "load": ("images", "load", 0, 0),
    "import": ("images", "import_", 1, 2),
    "login": ("auth", "login", 0, 1),
    "logout": ("auth", "logout", 0, 1),
    "inspect": ("inspect", "inspect", 1, None),
    "ps": ("containers", "ps", 0, 0),
    "rm": ("containers", "rm", 1, None),
    "stop": ("containers", "stop", 1, None),
    "start": ("containers", "start", 1, None),
    "restart": ("containers", "restart", 1, None),
    "kill": ("containers", "kill", 1, None),
    "wait": ("containers", "wait", 1, None),
    "logs": ("containers", "logs", 1, 1),
    "rename": ("containers", "rename", 2, 2),
    "pause": ("containers", "pause", 1, None),
    "unpause": ("containers", "unpause", 1, None),
    "top": ("containers", "top", 1, None),
    "run": ("run", "run", 1, None),
    "create": ("run", "create", 1, None),
    "exec": ("interactive", "exec_", 2, None),
    "attach": ("interactive", "attach", 1, 1),
    "cp": ("extras", "cp", 2, 2),
    "port": ("extras", "port", 1, 2),
    "diff": ("extras", "diff", 1, 1),
    "export": ("extras", "export", 1, 1),
    "commit": ("extras", "commit", 1, 2),
    "stats": ("extras", "stats", 0, None),
    "update": ("extras", "update", 1, None),
    "events": ("extras", "events", 0, 0),
}

# management command -> {sub-command: top-level command it runs}
MANAGEMENT: dict[str, tuple[str, dict[str, str]]] = {
    "image": ("Manage images", {
        "history": "history", "import": "import", "inspect": "image inspect", "load": "load",
        "ls": "images", "list": "images", "pull": "pull", "push": "push", "rm": "rmi",
        "remove": "rmi", "save": "save", "tag": "tag", "prune": "image prune"}),
    "container": ("Manage containers", {
        "inspect": "container inspect", "kill": "kill", "logs": "logs", "ls": "ps",
        "list": "ps", "ps": "ps", "pause": "pause", "rename": "rename", "restart": "restart",
        "rm": "rm", "remove": "rm", "start": "start", "stop": "stop", "top": "top",
        "unpause": "unpause", "wait": "wait", "run": "run", "create": "create",
        "exec": "exec", "attach": "attach", "cp": "cp", "port": "port", "diff": "diff",
        "export": "export", "commit": "commit", "stats": "stats", "update": "update",
        "prune": "container prune"}),
    "system": ("Manage Docker", {"info": "info", "events": "events", "df": "system df",
                                 "prune": "system prune"}),
    "network": ("Manage networks", {
        "create": "network create", "ls": "network ls", "list": "network ls",
        "inspect": "network inspect", "rm": "network rm", "remove": "network rm",
        "prune": "network prune", "connect": "network connect",
        "disconnect": "network disconnect"}),
    "volume": ("Manage volumes", {
        "create": "volume create", "ls": "volume ls", "list": "volume ls",
        "inspect": "volume inspect", "rm": "volume rm", "remove": "volume rm",
        "prune": "volume prune"}),
}
# commands that only exist under a management command
SUB_ONLY: dict[str, tuple[str, str, int, int | None]] = {
    "image inspect": ("inspect", "image_inspect", 1, None),
    "container inspect": ("inspect", "container_inspect", 1, None),
    "container prune": ("extras", "container_prune", 0, 0),
    "image prune": ("extras", "image_prune", 0, 0),
    "system df": ("extras", "system_df", 0, 0),
    "system prune": ("extras", "system_prune", 0, 0),
    "network create": ("networks", "create", 1, 1),
    "network ls": ("networks", "ls", 0, 0),
    "network inspect": ("networks", "inspect", 1, None),
    "network rm": ("networks", "rm", 1, None),
    "network prune": ("networks", "prune", 0, 0),
    "network connect": ("networks", "connect", 2, 2),
    "network disconnect": ("networks", "disconnect", 2, 2),
    "volume create": ("volumes", "create", 0, 1),
    "volume ls": ("volumes", "ls", 0, 0),
    "volume inspect": ("volumes", "inspect", 1, None),
    "volume rm": ("volumes", "rm", 1, None),
    "volume prune": ("volumes", "prune", 0, 0),
}
# help text key for `image ls` and friends (docker's own usage lines)
ALIAS_HELP = {"image list": "image ls", "image remove": "image rm",
              "container list": "container ls", "container ps": "container ls",
              "container remove": "container rm", "network list": "network ls",
              "network remove": "network rm", "volume list": "volume ls",
              "volume remove": "volume rm"}

# docker's SetInterspersed(false): options after the first argument belong to it
NOT_INTERSPERSED = {"top", "container top", "run", "container run", "create",
                    "container create", "exec", "container exec"}

COMMON = ["run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search",
          "version", "info"]

GLOBAL_HELP = """\
Usage:  dockyard [OPTIONS] COMMAND

A self-sufficient runtime for containers

{commands}
Global Options:
      --config string      Location of client config files (default
                           "{config}")
  -D, --debug              Enable debug mode
  -H, --host list          Daemon socket to connect to
  -l, --log-level string   Set the logging level ("debug", "info",
                           "warn", "error", "fatal") (default "info")
  -v, --version            Print version information and quit

Run 'dockyard COMMAND --help' for more information on a command.
"""


def _help_text(key: str) -> str:
    from .helptexts import HELP
    return HELP[ALIAS_HELP.get(key, key)]


def description(text: str) -> str:
    """The one-line description: the first line after the usage block (its first
    sentence: cobra's Short where the Long adds more, as for ``volume rm``)."""
    lines = text.split("\n")
    i = lines.index("") if "" in lines else 1
    return next((ln for ln in lines[i:] if ln.strip()), "").split(". ")[0]


def _descriptions() -> dict[str, str]:
    """Command → one-line description, from the help texts."""
    from .helptexts import HELP
    return {key: description(text).rstrip(".") for key, text in HELP.items()}


def global_help(config_dir: str) -> str:
    desc = _descriptions()
    desc.update({name: doc for name, (doc, _subs) in MANAGEMENT.items()})
    width = 12

    def block(title: str, names: list[str]) -> str:
        lines = [f"{title}:"] + [f"  {n.ljust(width)}{desc[n]}" for n in names]
        return "\n".join(lines) + "\n\n"

    common = [n for n in COMMON if n in COMMANDS]
    rest = sorted(n for n in COMMANDS if n not in common)
    text = block("Common Commands", common) + block("Management Commands", sorted(MANAGEMENT))
    text += block("Commands", rest)
    return GLOBAL_HELP.format(commands=text, config=config_dir)


def management_help(name: str) -> str:
    doc, subs = MANAGEMENT[name]
    from .helptexts import HELP
    names = sorted({s for s in subs if f"{name} {s}" in HELP})
    lines = [f"Usage:  {PROG} {name} COMMAND", "", doc, "", "Commands:"]
    for sub in names:
        lines.append(f"  {sub.ljust(10)}  {description(HELP[name + ' ' + sub])}")
    lines += ["", f"Run '{PROG} {name} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def _usage_line(key: str) -> str:
    return _help_text(key).split("\n")[0]


def _misuse(stderr: TextIO, key: str, message: str, see: str = "Run") -> None:
    stderr.write(f"{message}\n\n{_usage_line(key)}\n\n"
                 f"{see} '{PROG} {key} --help' for more information\n")


def _check_args(key: str, args: list[str], lo: int, hi: int | None) -> None:
    n = len(args)
    cmd = f"'{PROG} {key}'"
    if hi == 0 and n > 0:
        raise UsageError(f"{PROG}: {cmd} accepts no arguments")
    if lo == hi and n != lo:
        raise UsageError(f"{PROG}: {cmd} requires {lo} argument{'s' if lo != 1 else ''}")
    if n < lo:
        raise UsageError(f"{PROG}: {cmd} requires at least {lo} argument{'s' if lo != 1 else ''}")
    if hi is not None and n > hi:
        raise UsageError(f"{PROG}: {cmd} requires at most {hi} argument{'s' if hi != 1 else ''}")


def _global_options() -> list[Any]:
    from .flags import Option
    return [Option("config", None, "string"), Option("debug", "D", None),
            Option("host", "H", "list"), Option("log-level", "l", "string"),
            Option("version", "v", None), Option("help", None, None)]


def run_command(ctx: Context, key: str, argv: list[str]) -> int:
    """Parse ``argv`` for the command ``key`` (``ps``, ``image inspect``) and run it."""
    from . import flags

    spec = COMMANDS.get(key) or SUB_ONLY.get(key)
    if spec is None:
        target = key.split(" ", 1)
        alias = MANAGEMENT[target[0]][1][target[1]]
        spec = COMMANDS.get(alias) or SUB_ONLY[alias]
    module, func, lo, hi = spec
    options = [*flags.options_from_help(_help_text(key)), flags.Option("help", None, None)]
    if key.split(" ")[-1] in ("run", "create"):  # docker's hidden aliases
        options += [flags.Option("net", None, "network"), flags.Option("net-alias", None, "list")]
    try:
        parsed = flags.parse(argv, options, interspersed=key not in NOT_INTERSPERSED)
    except flags.FlagError as exc:
        _misuse(ctx.stderr, key, str(exc))
        return 125
    if parsed.values.get("help"):
        ctx.stdout.write(_help_text(key))
        return 0
    try:
        _check_args(key, parsed.args, lo, hi)
    except UsageError as exc:
        _misuse(ctx.stderr, key, str(exc), "See" if "at least" in str(exc) else "Run")
        return 1
    # __import__ rather than importlib.import_module: importing importlib costs start-up
    mod = __import__(f"dockyard.cli.commands.{module}", fromlist=[func])
    return getattr(mod, func)(ctx, parsed) or 0


def _resolve(args: list[str], ctx: Context) -> tuple[str | None, list[str], int | None]:
    """(command key, its argv, or an exit status when it was handled here)."""
    name, rest = args[0], args[1:]
    if name in COMMANDS:
        return name, rest, None
    if name in MANAGEMENT:
        subs = MANAGEMENT[name][1]
        if not rest or rest[0] in ("--help", "-h"):
            ctx.stdout.write(management_help(name))
            return None, [], 0
        sub = rest[0]
        if sub.startswith("-"):
            ctx.stderr.write(f"unknown flag: {sub}\n\nUsage:  {PROG} {name} COMMAND\n\n"
                             f"Run '{PROG} {name} --help' for more information\n")
            return None, [], 125
        if sub not in subs:
            ctx.stderr.write(f"{PROG}: unknown command: {PROG} {name} {sub}\n\n"
                             f"Usage:  {PROG} {name}\n\n"
                             f"Run '{PROG} {name} --help' for more information\n")
            return None, [], 1
        return f"{name} {sub}", rest[1:], None
    ctx.stderr.write(f"{PROG}: unknown command: {PROG} {name}\n\n"
                     f"Run '{PROG} --help' for more information\n")
    return None, [], 1


def _help_command(ctx: Context, topics: list[str]) -> int:
    if not topics:
        ctx.stdout.write(global_help(ctx.config_dir))
        return 0
    key = " ".join(topics)
    if topics[0] in MANAGEMENT and len(topics) == 1:
        ctx.stdout.write(management_help(topics[0]))
        return 0
    from .helptexts import HELP
    if ALIAS_HELP.get(key, key) in HELP and (key in COMMANDS or key in SUB_ONLY
                                             or " " in key):
        ctx.stdout.write(_help_text(key))
        return 0
    ctx.stderr.write(f"unknown help topic: {key}\n")
    return 1


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None, stdin: Any = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    from .flags import FlagError, parse

    try:
        glob = parse(args, _global_options(), stop_at_first_arg=True)
    except FlagError as exc:
        err.write(f"{exc}\n\nUsage:  {PROG} [OPTIONS] COMMAND [ARG...]\n\n"
                  f"Run '{PROG} --help' for more information\n")
        return 125
    config_dir = glob.config or os.environ.get("DOCKER_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".docker")
    if glob.version:
        from dockyard import __version__
        out.write(f"dockyard version {__version__}\n")
        return 0
    hosts = glob.host
    if len(hosts) > 1:
        err.write("Specify only one -H\n")
        return 1
    ctx = Context(host=hosts[0] if hosts else None, config_dir=config_dir, debug=glob.debug,
                  stdout=out, stderr=err, stdin=stdin if stdin is not None else sys.stdin)
    rest = glob.args
    if glob.help or not rest:
        out.write(global_help(config_dir))
        return 0
    if rest[0] == "help":
        return _help_command(ctx, rest[1:])
    key, cmd_args, status = _resolve(rest, ctx)
    if key is None:
        return status or 0
    return _run(ctx, key, cmd_args)


def _run(ctx: Context, key: str, argv: list[str]) -> int:
    try:
        return run_command(ctx, key, argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except CLIError as exc:
        if str(exc):
            ctx.stderr.write(f"{exc}\n")
        return exc.status
    except Exception as exc:  # the client's errors, imported lazily
        from dockyard.client.errors import APIError, DaemonUnavailable

        from .template import TemplateError
        if isinstance(exc, DaemonUnavailable):
            ctx.stderr.write(f"{exc}\n")
            return 1
        if isinstance(exc, APIError):
            ctx.stderr.write(f"Error response from daemon: {exc.message}\n")
            return 1
        if isinstance(exc, TemplateError):
            ctx.stderr.write(f"{exc}\n")
            return 1
        if isinstance(exc, ValueError) and str(exc).startswith("invalid host"):
            ctx.stderr.write(f"{exc}\n")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())

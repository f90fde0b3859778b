"""pflag's grammar, with the option tables read from docker's own help texts.

- ``-a``, ``-aq`` (grouped booleans), ``-n 5``, ``-n5``, ``-n=5``, ``--tail 5``, ``--tail=5``,
  ``--all=false``; ``--`` ends the options; options and arguments may interleave.
- ``filter``, ``list`` and ``stringArray`` options accumulate; the rest keep the last value.
- Errors carry pflag's texts (``unknown flag: --bar``, ``flag needs an argument: 'f' in -f``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing (and re) cost every command's start-up
if TYPE_CHECKING:
    from typing import Any

LIST_TYPES = {"filter", "list", "stringArray", "strings", "stringSlice", "map", "ulimit",
              "mount", "gpu-request", "network"}
INT_TYPES = {"int", "uint", "int64", "uint16", "uint64"}


class FlagError(Exception):
    """Misuse of the command line; printed with the usage line, exit 125."""


class Option:
    """One option: ``type`` None is a boolean, ``default_true`` one documented
    "(default true)". A plain class: ``typing.NamedTuple`` costs start-up."""

    __slots__ = ("default_true", "long", "short", "type")

    def __init__(self, long: str, short: str | None, type: str | None,
                 default_true: bool = False) -> None:
        self.long = long
        self.short = short
        self.type = type
        self.default_true = default_true

    def _key(self) -> tuple[str, str | None, str | None, bool]:
        return (self.long, self.short, self.type, self.default_true)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Option) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Option(long={self.long!r}, short={self.short!r}, type={self.type!r}, "
                f"default_true={self.default_true!r})")

    @property
    def dest(self) -> str:
        return self.long.replace("-", "_")

    @property
    def label(self) -> str:
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"


class Parsed:
    """Option values by ``dest`` (also as attributes), positional args, options given."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.args: list[str] = []
        self.given: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what re calls \w (str patterns)


def _word_end(line: str, i: int) -> int:
    """The end of the ``[\\w-]*`` run from ``i``."""
    while i < len(line) and (_word(line[i]) or line[i] == "-"):
        i += 1
    return i


def match_option(line: str) -> tuple[str | None, str, str | None, int] | None:
    """``^ +(?:-(\\w), )?--([\\w-]+)(?: (\\w[\\w-]*))?\\s{2,}`` by hand (``re`` costs
    start-up): (short, long, type, where the description starts), or None."""
    i = len(line) - len(line.lstrip(" "))
    if i == 0:
        return None
    short = None
    if (line[i:i + 1] == "-" and _word(line[i + 1:i + 2] or " ")
            and line[i + 2:i + 4] == ", "):
        short = line[i + 1]
        i += 4
    if line[i:i + 2] != "--":
        return None
    end = _word_end(line, i + 2)
    if end == i + 2:
        return None
    long = line[i + 2:end]

    def spaces(j: int) -> int:
        k = j
        while k < len(line) and line[k].isspace():
            k += 1
        return k if k - j >= 2 else -1

    if line[end:end + 1] == " " and _word(line[end + 1:end + 2] or " "):
        kind_end = _word_end(line, end + 2)
        desc = spaces(kind_end)
        if desc >= 0:
            return short, long, line[end + 1:kind_end], desc
    desc = spaces(end)
    return (short, long, None, desc) if desc >= 0 else None


def options_from_help(text: str) -> list[Option]:
    found: list[tuple[str | None, str, str | None, str]] = []
    section = ""
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line
            continue
        if section.endswith("Options:"):
            m = match_option(line)
            if m:
                short, long, kind, desc_at = m
                found.append((short, long, kind, line[desc_at:]))
            elif found and line.strip():
                short, long, kind, desc = found[-1]
                found[-1] = (short, long, kind, desc + " " + line.strip())
    return [Option(long, short, kind, kind is None and "(default true)" in desc)
            for short, long, kind, desc in found]


def defaults(options: list[Option]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for opt in options:
        if opt.type is None:
            out[opt.dest] = opt.default_true
        elif opt.type in LIST_TYPES:
            out[opt.dest] = []
        else:
            out[opt.dest] = None
    return out


def _convert(opt: Option, value: str) -> Any:
    if opt.type is None:
        low = value.lower()
        if low in ("1", "t", "true"):
            return True
        if low in ("0", "f", "false"):
            return False
        raise FlagError(f'invalid argument "{value}" for "{opt.label}" flag: '
                        f'strconv.ParseBool: parsing "{value}": invalid syntax')
    if opt.type in INT_TYPES:
        try:
            number = int(value, 0) if value.startswith(("0x", "0o", "0b")) else int(value)
        except ValueError:
            raise FlagError(f'invalid argument "{value}" for "{opt.label}" flag: '
                            f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        return number
    return value


def parse(argv: list[str], options: list[Option], *, interspersed: bool = True,
          stop_at_first_arg: bool = False) -> Parsed:
    """Parse ``argv``; ``stop_at_first_arg`` leaves everything after the first positional
    argument alone (the global options before a command)."""
    by_long = {o.long: o for o in options}
    by_short = {o.short: o for o in options if o.short}
    parsed = Parsed(defaults(options))

    def store(opt: Option, value: Any) -> None:
        parsed.given.add(opt.dest)
        if opt.type in LIST_TYPES:
            parsed.values[opt.dest].append(value)
        else:
            parsed.values[opt.dest] = value

    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            parsed.args.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            opt = by_long.get(name)
            if opt is None:
                raise FlagError(f"unknown flag: --{name}")
            if opt.type is None:
                store(opt, _convert(opt, value) if eq else True)
            elif eq:
                store(opt, _convert(opt, value))
            elif i < len(argv):
                store(opt, _convert(opt, argv[i]))
                i += 1
            else:
                raise FlagError(f"flag needs an argument: --{name}")
        elif arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                ch = arg[j]
                opt = by_short.get(ch)
                if opt is None:
                    raise FlagError(f"unknown shorthand flag: '{ch}' in {arg}")
                rest = arg[j + 1:]
                if opt.type is None:
                    if rest.startswith("="):
                        store(opt, _convert(opt, rest[1:]))
                        break
                    store(opt, True)
                    j += 1
                    continue
                if rest:
                    store(opt, _convert(opt, rest[1:] if rest.startswith("=") else rest))
                elif i < len(argv):
                    store(opt, _convert(opt, argv[i]))
                    i += 1
                else:
                    raise FlagError(f"flag needs an argument: '{ch}' in {arg}")
                break
        else:
            parsed.args.append(arg)
            if stop_at_first_arg or not interspersed:
                parsed.args.extend(argv[i:])
                break
    return parsed

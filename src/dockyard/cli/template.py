"""A small, safe evaluator for the Go text/template forms docker's ``--format`` users write.

Supported: text, ``{{.}}``, ``{{.A.B}}``, string/number literals, function calls and
pipelines (``{{.Names | upper}}``), ``{{if}}``/``{{else}}``/``{{end}}``, ``{{range}}``,
``{{with}}``, ``{{- trim -}}`` markers, and docker's functions: ``json``, ``index``, ``join``,
``split``, ``lower``, ``upper``, ``title``, ``len``, ``println``, ``printf`` (``%s %d %v %q``),
``pad``, ``truncate``. Nothing is ``eval``'d: names are looked up in dicts and in the
attributes a row object exposes on purpose (:class:`Row`).
"""

from __future__ import annotations

# Tables (`ps`, `images`) and --format render through here: no re, json or typing at
# import (about 10 ms of start-up); the tokenizer and printf scan by hand.
from dockyard.client import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

NO_VALUE = "<no value>"


class TemplateError(ValueError):
    pass


class Row:
    """A formatter row: ``fields`` maps a template name (``ID``) to a value or a callable;
    callables taking arguments are methods (``{{.Label "k"}}``)."""

    def __init__(self, fields: Mapping[str, Any], methods: Mapping[str, Callable[..., Any]]
                 | None = None) -> None:
        self.fields = dict(fields)
        self.methods = dict(methods or {})

    def to_json(self) -> dict[str, Any]:
        return {k: (v() if callable(v) else v) for k, v in self.fields.items()}


def _quoted_end(text: str, pos: int) -> int:
    """Where the string literal at ``pos`` ends, or -1 when there is none: double quotes
    with backslash escapes (none of a newline), or a raw one in backquotes."""
    if text[pos] == "`":
        end = text.find("`", pos + 1)
        return end + 1 if end >= 0 else -1
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return i + 1
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] == "\n":
                return -1
            i += 2
        else:
            i += 1
    return -1


def _tokens(text: str) -> list[tuple[str, str]]:
    """A string literal, ``|``, ``(``, ``)`` or a word (a run of anything else but
    white space); white space between them is skipped."""
    out = []
    pos, n = 0, len(text)
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos == n:
            break
        c = text[pos]
        end = _quoted_end(text, pos) if c in "\"`" else -1
        if end >= 0:
            s = text[pos:end]
            out.append(("str", jsonio.loads(s) if c == '"' else s[1:-1]))
        elif c in "|()":
            end = pos + 1
            out.append(("pipe", "|") if c == "|" else (c, c))
        else:
            end = pos
            while end < n and not (text[end].isspace() or text[end] in "|()"):
                end += 1
            out.append(("word", text[pos:end]))
        pos = end
    return out


def _is_int(word: str) -> bool:
    digits = word[1:] if word.startswith("-") else word
    return digits.isdecimal()  # what re calls \d: Unicode decimal digits


def _is_float(word: str) -> bool:
    whole, dot, fraction = (word[1:] if word.startswith("-") else word).partition(".")
    return bool(dot) and whole.isdecimal() and (not fraction or fraction.isdecimal())


# --- parsing: a list of nodes; ("text", s) | ("action", pipeline) | (kw, pipeline, body, else)


def parse(template: str) -> list[Any]:
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            parts.append(("text", template[pos:]))
            break
        end = template.find("}}", start)
        if end < 0:
            raise TemplateError("template: unclosed action")
        parts.append(("text", template[pos:start]))
        inner = template[start + 2:end]
        if inner.startswith("-") and inner[1:2] in (" ", "\t", "\n"):
            parts[-1] = ("text", parts[-1][1].rstrip())
            inner = inner[1:]
        pos = end + 2
        if inner.endswith("-") and inner[-2:-1] in (" ", "\t", "\n"):
            inner = inner[:-1]
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
        parts.append(("action", inner.strip()))
    nodes, _i = _build(parts, 0, top=True)
    return nodes


def _build(parts: list[tuple[str, str]], i: int, top: bool) -> tuple[list[Any], int]:
    nodes: list[Any] = []
    while i < len(parts):
        kind, value = parts[i]
        i += 1
        if kind == "text":
            if value:
                nodes.append(("text", value))
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"template: unexpected {{{{{word}}}}}")
            return [*nodes, ("__" + word, value)], i
        if word.startswith("/*"):
            continue
        if word in ("if", "range", "with"):
            node, i = _block(word, value[len(word):].strip(), parts, i)
            nodes.append(node)
            continue
        nodes.append(("action", _pipeline(value)))
    if not top:
        raise TemplateError("template: unexpected EOF")
    return nodes, i


def _block(word: str, text: str, parts: list[tuple[str, str]], i: int) -> tuple[Any, int]:
    """An if/range/with node; ``{{else if X}}`` nests an if that shares the {{end}}."""
    pipeline = _pipeline(text)
    body, i = _build(parts, i, top=False)
    marker = body.pop()
    alt: list[Any] = []
    if marker[0] == "__else":
        rest = marker[1][4:].strip()
        if rest.startswith("if "):
            node, i = _block("if", rest[3:].strip(), parts, i)
            alt = [node]
        else:
            alt, i = _build(parts, i, top=False)
            if alt.pop()[0] != "__end":
                raise TemplateError("template: expected {{end}}")
    return (word, pipeline, body, alt), i


def _pipeline(text: str) -> list[list[Any]]:
    tokens = _tokens(text)
    commands: list[list[Any]] = [[]]
    stack: list[list[list[Any]]] = []
    for kind, value in tokens:
        if kind == "pipe":
            commands.append([])
        elif kind == "(":
            stack.append(commands)
            commands = [[]]
        elif kind == ")":
            inner = commands
            commands = stack.pop()
            commands[-1].append(("sub", inner))
        elif kind == "str":
            commands[-1].append(("lit", value))
        else:
            commands[-1].append(_word(value))
    if stack:
        raise TemplateError("template: unclosed (")
    if not commands[0]:
        raise TemplateError("template: missing value for command")
    return commands


def _word(word: str) -> tuple[str, Any]:
    if word == ".":
        return ("field", [])
    if word.startswith("."):
        return ("field", word[1:].split("."))
    if word in ("true", "false"):
        return ("lit", word == "true")
    if word == "nil":
        return ("lit", None)
    if _is_int(word):
        return ("lit", int(word))
    if _is_float(word):
        return ("lit", float(word))
    if word.startswith("$"):
        return ("field", []) if word == "$" else ("field", word.split(".")[1:])
    return ("func", word)


# --- evaluation --------------------------------------------------------------------------


class _Missing:
    def __str__(self) -> str:
        return NO_VALUE


MISSING = _Missing()


def go_str(value: Any) -> str:
    """fmt.Print's rendering of JSON-ish values."""
    if value is MISSING:
        return NO_VALUE
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, Row):
        value = value.to_json()
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_float(value: float) -> str:
    """fmt's %v for a float64: shortest digits, %e when the exponent is < -4 or >= 6."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    if value == 0:
        return "0"
    from decimal import Decimal
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp10 = len(text) + int(exp) - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    return minus + format(Decimal(repr(abs(value))).normalize(), "f")


def _field(value: Any, name: str, args: list[Any]) -> Any:
    if isinstance(value, Row):
        if name in value.methods:
            return value.methods[name](*args)
        if name in value.fields:
            v = value.fields[name]
            return v() if callable(v) else v
        raise TemplateError(f"template: can't evaluate field {name} in type *formatter.Context")
    if isinstance(value, dict):
        return value.get(name, MISSING)
    if value is None or value is MISSING:
        return MISSING
    raise TemplateError(f"template: can't evaluate field {name} in type {type(value).__name__}")


def _truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, Row):
        return True
    return bool(value)


def _json(value: Any) -> str:
    if isinstance(value, Row):
        value = value.to_json()
    if value is MISSING:
        value = None
    return jsonio.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, MISSING)
        elif isinstance(value, list | tuple | str):
            try:
                value = value[int(key)]
            except (IndexError, ValueError):
                raise TemplateError(f"template: index out of range: {key}") from None
        elif value is MISSING or value is None:
            return MISSING
        else:
            raise TemplateError(f"template: can't index item of type {type(value).__name__}")
    return value


def _printf(fmt: str, *args: Any) -> str:
    """The verbs ``%[-+ 0-9.]*[sdvq]`` and ``%%``; any other text as it is."""
    it = iter(args)
    out: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        start = fmt.find("%", i)
        if start < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:start])
        end = start + 1
        while end < n and fmt[end] in "-+ 0123456789.":
            end += 1
        if end < n and fmt[end] in "sdvq":
            verb = fmt[start:end + 1]
            v = next(it, MISSING)
            if verb[-1] == "q":
                out.append(jsonio.dumps(go_str(v)))
            elif verb[-1] == "d" and isinstance(v, int | float):
                out.append((verb[:-1] + "d") % int(v))
            else:
                out.append((verb[:-1] + "s") % go_str(v))
            i = end + 1
        elif fmt[start + 1:start + 2] == "%":
            out.append("%")
            i = start + 2
        else:
            out.append("%")
            i = start + 1
    return "".join(out)


def _truncate(s: Any, n: int) -> str:
    s = go_str(s)
    return s[:n] if len(s) > n else s


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "index": _index,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "len": lambda v: len(v.to_json() if isinstance(v, Row) else (v or [])),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_str(x) for x in a),
    "printf": _printf,
    "pad": lambda s, left, right: " " * left + go_str(s) + " " * right,
    "truncate": _truncate,
    "not": lambda v: not _truthy(v),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
}


def _eval_arg(arg: tuple[str, Any], dot: Any) -> Any:
    kind, value = arg
    if kind == "lit":
        return value
    if kind == "field":
        cur = dot
        for name in value:
            cur = _field(cur, name, [])
        return cur
    if kind == "sub":
        return _eval_pipeline(value, dot)
    if kind == "func":
        return _call(value, [], dot)
    raise TemplateError("template: bad argument")


def _call(name: str, args: list[Any], dot: Any) -> Any:
    func = FUNCS.get(name)
    if func is None:
        raise TemplateError(f'template: function "{name}" not defined')
    try:
        return func(*args)
    except TypeError:
        raise TemplateError(f"template: wrong number of args for {name}") from None


def _eval_command(command: list[Any], dot: Any, piped: Any, has_piped: bool) -> Any:
    head = command[0]
    rest = [_eval_arg(a, dot) for a in command[1:]]
    if has_piped:
        rest.append(piped)
    if head[0] == "func":
        return _call(head[1], rest, dot)
    if head[0] == "field" and head[1]:
        cur = dot
        for name in head[1][:-1]:
            cur = _field(cur, name, [])
        return _field(cur, head[1][-1], rest)
    if rest:
        raise TemplateError("template: can't give argument to non-function")
    return _eval_arg(head, dot)


def _eval_pipeline(pipeline: list[list[Any]], dot: Any) -> Any:
    value: Any = None
    for n, command in enumerate(pipeline):
        if not command:
            raise TemplateError("template: missing command in pipeline")
        value = _eval_command(command, dot, value, n > 0)
    return value


def _render(nodes: list[Any], dot: Any, out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "action":
            out.append(go_str(_eval_pipeline(node[1], dot)))
        else:
            value = _eval_pipeline(node[1], dot)
            if kind == "if":
                _render(node[2] if _truthy(value) else node[3], dot, out)
            elif kind == "with":
                if _truthy(value):
                    _render(node[2], value, out)
                else:
                    _render(node[3], dot, out)
            elif kind == "range":
                items: Any = value
                if isinstance(items, dict):
                    items = [items[k] for k in sorted(items)]
                if not _truthy(items):
                    _render(node[3], dot, out)
                    continue
                for item in items:
                    _render(node[2], item, out)


class Template:
    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = parse(text)

    def render(self, dot: Any) -> str:
        out: list[str] = []
        _render(self.nodes, dot, out)
        return "".join(out)


def render(text: str, dot: Any) -> str:
    return Template(text).render(dot)

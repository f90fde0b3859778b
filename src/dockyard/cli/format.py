"""Output: docker's tables (Go tabwriter with minwidth 10, padding 3), ``--format`` handling
(``table``, ``table TEMPLATE``, ``json``, ``TEMPLATE``) and go-units' human sizes and times."""

from __future__ import annotations

import time

from dockyard.client import jsonio

from .template import Row, Template, TemplateError

TYPE_CHECKING = False  # typing and json (which imports re) cost every command's start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import TextIO

__all__ = ["Row", "TemplateError"]


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: decimal units, %.<precision>g."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    size = float(size)
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units (KiB, MiB) with %.4g."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    size = float(size)
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def now() -> float:
    """The CLI's clock for ages ("5 minutes ago"): one place, so tests can fix it."""
    return time.time()


def since(timestamp: float, current: float | None = None) -> str:
    reference = now() if current is None else current
    return human_duration(reference - timestamp) + " ago"


def go_time(timestamp: float) -> str:
    """Go's time.Time String() in local time: ``2006-01-02 15:04:05 -0700 MST``."""
    t = time.localtime(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", t)


def truncate_id(value: str) -> str:
    if ":" in value:
        value = value.split(":", 1)[1]
    return value[:12]


def ellipsis(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if width > 1 else text[:width]


def go_quote(text: str) -> str:
    return jsonio.dumps(text, ensure_ascii=False)


def tabwrite(lines: Iterable[str], minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter for tables: a cell ended by a tab is padded to its column's width."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for j, cell in enumerate(cells[:-1]):
            widths[j] = max(widths.get(j, 0), max(minwidth, len(cell) + padding))
    out = []
    for cells in rows:
        parts = [cell.ljust(widths[j]) for j, cell in enumerate(cells[:-1])]
        parts.append(cells[-1])
        out.append("".join(parts))
    return "".join(line + "\n" for line in out)


def prepare(fmt: str) -> tuple[bool, str]:
    """docker's preFormat: (is_table, template text with ``\\t``/``\\n`` unescaped)."""
    table = fmt.startswith("table")
    text = fmt[len("table"):] if table else fmt
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return table, text


def write(out: TextIO, fmt: str, rows: list[Row], headers: Mapping[str, str],
          default: str, quiet_format: str | None = None) -> None:
    """Render ``rows`` with a ``--format`` value (or the default table)."""
    if not fmt or fmt == "table":
        fmt = default
    elif fmt == "json":
        fmt = "{{json .}}"
    table, text = prepare(fmt)
    template = Template(text)
    lines: list[str] = []
    if table:
        header = Row({name: headers.get(name, name.upper()) for name in headers},
                     {"Label": lambda _k: "LABEL"})
        try:
            lines.append(template.render(header))
        except TemplateError:
            lines.append("")
    for row in rows:
        lines.append(template.render(row))
    if table:
        # Multi-line cells are split into lines before alignment, as tabwriter sees them.
        flat = "\n".join(lines).split("\n")
        if len(rows) == 0 and flat[-1:] != [""]:
            pass
        out.write(tabwrite(flat))
    else:
        for line in lines:
            out.write(line + "\n")


def labels_string(labels: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items())

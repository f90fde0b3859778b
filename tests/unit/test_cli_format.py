"""Output helpers: go-units sizes and durations, the tabwriter table, --format modes, and
the jsonmessage progress display (plain lines and terminal redraws)."""

from __future__ import annotations

import io
import json

import pytest

from dockyard.cli import format as fmt
from dockyard.cli.progress import display, progress_string
from dockyard.client.errors import StreamError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("size", "precision", "text"), [
    (0, 4, "0B"), (999, 4, "999B"), (1000, 4, "1kB"), (4_261_000, 3, "4.26MB"),
    (1_234_567_890, 4, "1.235GB"), (1_000_000_000, 3, "1GB"), (12_345, 3, "12.3kB"),
])
def test_human_size(size: int, precision: int, text: str) -> None:
    assert fmt.human_size(size, precision) == text


def test_bytes_size() -> None:
    assert fmt.bytes_size(8 * 1024 ** 3) == "8GiB"
    assert fmt.bytes_size(1536) == "1.5KiB"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"),
    (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (14 * 86400, "2 weeks"),
    (60 * 86400, "2 months"), (800 * 86400, "2 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert fmt.human_duration(seconds) == text


def test_ellipsis_and_ids() -> None:
    assert fmt.ellipsis("abcdef", 4) == "abc…"
    assert fmt.ellipsis("abc", 4) == "abc"
    assert fmt.truncate_id("sha256:" + "a" * 64) == "a" * 12
    assert fmt.go_quote('say "hi"') == '"say \\"hi\\""'


def test_tabwrite() -> None:
    text = fmt.tabwrite(["A\tBB\tC", "longer value\tx\tlast cell is not padded"])
    assert text == ("A              BB        C\n"
                    "longer value   x         last cell is not padded\n")


def rows() -> list[fmt.Row]:
    return [fmt.Row({"ID": "1", "Name": "a"}), fmt.Row({"ID": "22", "Name": "b"})]


@pytest.mark.parametrize(("format_", "expected"), [
    ("", "ID        NAME\n1         a\n22        b\n"),
    ("table", "ID        NAME\n1         a\n22        b\n"),
    ("table {{.Name}}", "NAME\na\nb\n"),
    ("{{.ID}}:{{.Name}}", "1:a\n22:b\n"),
    ("{{.ID}}\\t{{.Name}}", "1\ta\n22\tb\n"),
    ("json", '{"ID":"1","Name":"a"}\n{"ID":"22","Name":"b"}\n'),
])
def test_write_modes(format_: str, expected: str) -> None:
    out = io.StringIO()
    fmt.write(out, format_, rows(), {"ID": "ID", "Name": "NAME"}, "table {{.ID}}\t{{.Name}}")
    assert out.getvalue() == expected


def test_write_empty_table_has_header() -> None:
    out = io.StringIO()
    fmt.write(out, "", [], {"ID": "CONTAINER ID"}, "table {{.ID}}")
    assert out.getvalue() == "CONTAINER ID\n"


# --- progress --------------------------------------------------------------------------


def test_progress_string() -> None:
    assert progress_string({}) == ""
    assert progress_string({"current": 0, "total": 0}) == ""
    bar = progress_string({"current": 500_000, "total": 1_000_000})
    assert bar == "[" + "=" * 25 + ">" + " " * 25 + "]    500kB/1MB"
    assert progress_string({"current": 500_000, "total": 1_000_000}, width=80) == "   500kB/1MB"
    assert progress_string({"current": 1234}) == " 1.234kB"


def stream(*msgs: dict[str, object]) -> list[dict[str, object]]:
    return [json.loads(json.dumps(m)) for m in msgs]


def test_display_plain() -> None:
    out = io.StringIO()
    display(stream(
        {"status": "Pulling from library/busybox", "id": "latest"},
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1"},
        {"status": "Downloading", "progressDetail": {"current": 1, "total": 9}, "id": "a1"},
        {"status": "Verifying Checksum", "progressDetail": {}, "id": "a1"},
        {"stream": "Loaded image: x\n"},
        {"aux": {"ID": "sha256:x"}},
        {"status": "Done", "progress": "legacy"},
    ), out)
    assert out.getvalue() == ("latest: Pulling from library/busybox\na1: Pulling fs layer\n"
                              "a1: Verifying Checksum\nLoaded image: x\nDone legacy")


def test_display_aux_callback_and_error() -> None:
    seen: list[object] = []
    with pytest.raises(StreamError) as info:
        display(stream({"aux": {"ID": "x"}},
                       {"errorDetail": {"code": 2, "message": "boom"}, "error": "boom"}),
                io.StringIO(), aux=seen.append)
    assert seen == [{"ID": "x"}]
    assert (info.value.status, info.value.message) == (2, "boom")
    with pytest.raises(StreamError, match="only error"):
        display([{"error": "only error"}], io.StringIO())


def test_display_terminal_redraws_layer_lines() -> None:
    out = io.StringIO()
    display(stream(
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1"},
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "b2"},
        {"status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "id": "a1"},
        {"status": "Pull complete", "progressDetail": {}, "id": "b2"},
    ), out, terminal=True)
    text = out.getvalue()
    # a new line per layer; updates move the cursor up to the layer's line and back down
    assert text.startswith("\n\x1b[1A\x1b[2K\ra1: Pulling fs layer \r\x1b[1B")
    assert "\x1b[2A\x1b[2K\ra1: Downloading " in text
    assert "\x1b[1A\x1b[2K\rb2: Pull complete \r\x1b[1B" in text

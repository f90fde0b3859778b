"""json-file log: the bulk writer and reader agree with plain JSON, line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.engine import jsonlog
from dockyard.engine.jsonlog import MAX_LINE, JSONFileWriter, decode_records, encode_lines

pytestmark = pytest.mark.unit

STAMP = "2026-01-02T03:04:05.123456789Z"


def _records(raw: bytes) -> list[dict]:
    return [json.loads(line) for line in raw.splitlines()]


@pytest.mark.parametrize("lines", [
    b"hello\n",
    b"one\ntwo\nthree\n",
    b"\n\n",
    "h\u00e9llo \u2713\n".encode(),
    b'quote " and backslash \\ and tab \t\n',
    b"escape \x1b[0m and nul \x00\n",
    b"invalid \xff\xfe utf-8\n",
    b"literal \\n not a newline\n",
])
def test_encode_lines_is_docker_json_per_line(lines):
    raw = encode_lines("stdout", lines, STAMP)
    records = _records(raw)
    want = lines.decode("utf-8", "replace").split("\n")[:-1]
    assert [r["log"] for r in records] == [w + "\n" for w in want]
    assert {r["stream"] for r in records} == {"stdout"}
    assert {r["time"] for r in records} == {STAMP}
    # compact, in Docker's key order
    assert raw.startswith(b'{"log":')
    assert b'","stream":"stdout","time":"' in raw


@pytest.mark.parametrize("text", [
    b"a\nb\n" * 1000,
    b'q"uote\n',
    b"back\\slash\n",
    b"a\\\\n\n",
    "\u00fcn\u00ef\n".encode(),
    b"x" * 100 + b"\n",
])
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_decode_records_round_trip(text, stream):
    raw = encode_lines(stream, text, STAMP)
    assert decode_records(raw, {"stdout", "stderr"}) == [(stream, text)]
    assert decode_records(raw, {stream}) == [(stream, text)]
    other = "stderr" if stream == "stdout" else "stdout"
    assert decode_records(raw, {other}) == []


def test_decode_records_mixed_streams_and_foreign_format():
    raw = (encode_lines("stdout", b"1\n2\n", STAMP) + encode_lines("stderr", b"e\n", STAMP)
           + encode_lines("stdout", b"3\n", STAMP)
           # what json.dumps with default separators writes (older dockyard logs)
           + json.dumps({"log": "4\n", "stream": "stdout", "time": STAMP}).encode() + b"\n")
    assert decode_records(raw, {"stdout", "stderr"}) == [
        ("stdout", b"1\n2\n"), ("stderr", b"e\n"), ("stdout", b"3\n4\n")]
    assert decode_records(raw, {"stdout"}) == [("stdout", b"1\n2\n3\n4\n")]
    assert decode_records(b"", {"stdout"}) == []


def test_writer_holds_partial_lines_and_splits_long_ones(tmp_path):
    path = tmp_path / "c-json.log"
    w = JSONFileWriter(str(path))
    chunks = [b"par", b"tial\nnext", b" line\n", b"y" * (MAX_LINE + 10) + b"\n", b"tail"]
    for chunk in chunks:
        w.write("stdout", chunk)
    w.write("stderr", b"err\n")
    w.close()
    records = _records(path.read_bytes())
    assert [r["log"] for r in records if r["stream"] == "stdout"] == [
        "partial\n", "next line\n", "y" * MAX_LINE, "y" * 10 + "\n", "tail"]
    assert [r["log"] for r in records if r["stream"] == "stderr"] == ["err\n"]
    assert max(len(r["log"]) for r in records) == MAX_LINE


def test_writer_rotates_per_record(tmp_path):
    path = tmp_path / "c-json.log"
    w = JSONFileWriter(str(path), max_size=1000, max_file=3)
    for i in range(50):
        w.write("stdout", b"line %d\n" % i * 4)
    w.close()
    files = jsonlog.log_files(str(path))
    assert len(files) == 3
    contents = [Path(f).read_bytes() for f in files]
    assert all(0 < len(c) <= 1000 for c in contents)
    logs = [r["log"] for c in contents for r in _records(c)]
    # the newest records survive, in order, whole
    assert logs == [f"line {i}\n" for i in range(50) for _ in range(4)][-len(logs):]


def test_plain_records_take_the_bulk_path():
    raw = encode_lines("stderr", b"a\nb\n" * 100, STAMP)
    assert jsonlog._decode_plain(raw) == ("stderr", b"a\nb\n" * 100)
    for other in (b'q"\n', b"back\\slash\n", b"tab\t\n"):
        assert jsonlog._decode_plain(encode_lines("stdout", other, STAMP)) is None
    mixed = encode_lines("stdout", b"1\n", STAMP) + encode_lines("stderr", b"2\n", STAMP)
    assert jsonlog._decode_plain(mixed) is None

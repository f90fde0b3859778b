"""The --format template evaluator: the Go template forms docker users write."""

from __future__ import annotations

import pytest

from dockyard.cli.template import Row, TemplateError, render

pytestmark = pytest.mark.unit

INSPECT = {
    "Id": "abc", "Name": "/web", "State": {"Status": "running", "Running": True, "Pid": 7,
                                           "Health": None},
    "Config": {"Labels": {"com.example": "x", "b": "y"}, "Env": ["A=1", "B=2"], "Tty": False},
    "Mounts": [{"Source": "/a", "Destination": "/b"}, {"Source": "/c", "Destination": "/d"}],
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    "Count": 3, "Ratio": 1.5, "Big": 4261000.0,
}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{.Id}}", "abc"),
    ("{{.State.Status}}", "running"),
    ("{{.State.Running}}", "true"),
    ("{{.State.Pid}}", "7"),
    ("{{.State.Health}}", "<nil>"),
    ("{{.Nope}}", "<no value>"),
    ("{{.State.Nope.Deeper}}", "<no value>"),
    ("{{json .State}}", '{"Status":"running","Running":true,"Pid":7,"Health":null}'),
    ("{{json .Config.Env}}", '["A=1","B=2"]'),
    ("{{json .Nope}}", "null"),
    ("{{index .Config.Labels \"com.example\"}}", "x"),
    ("{{index .Config.Env 1}}", "B=2"),
    ("{{join .Config.Env \",\"}}", "A=1,B=2"),
    ("{{lower .State.Status}} {{upper .Name}}", "running /WEB"),
    ("{{.Name | upper}}", "/WEB"),
    ("{{.Config.Env | json}}", '["A=1","B=2"]'),
    ("{{len .Mounts}}", "2"),
    ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/a:/b /c:/d "),
    ("{{range .Nope}}x{{else}}empty{{end}}", "empty"),
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "172.17.0.2"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Tty}}tty{{else if .State.Running}}running{{else}}no{{end}}", "running"),
    ("{{if eq .State.Status \"exited\"}}x{{else}}y{{end}}", "y"),
    ("{{if not .Config.Tty}}notty{{end}}", "notty"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ("{{.Config.Labels}}", "map[b:y com.example:x]"),
    ("{{.Count}} {{.Ratio}} {{.Big}}", "3 1.5 4.261e+06"),
    ("a\tb\n{{.Id}}", "a\tb\nabc"),
    ("{{- .Id -}}  x", "abcx"),
    ("{{printf \"%s-%d\" .Id .Count}}", "abc-3"),
    ("{{println .Id}}", "abc\n"),
    ("{{split \"a,b\" \",\"}}", "[a b]"),
    ("{{title \"hello\"}}", "Hello"),
    ("{{truncate .Id 2}}", "ab"),
    ("{{/* comment */}}{{.Id}}", "abc"),
    ("{{.}}", "map[Big:4.261e+06 Config:map[Env:[A=1 B=2] Labels:map[b:y com.example:x] "
              "Tty:false] Count:3 Id:abc Mounts:[map[Destination:/b Source:/a] "
              "map[Destination:/d Source:/c]] Name:/web NetworkSettings:map[Networks:"
              "map[bridge:map[IPAddress:172.17.0.2]]] Ratio:1.5 State:map[Health:<nil> "
              "Pid:7 Running:true Status:running]]"),
])
def test_render(template: str, expected: str) -> None:
    assert render(template, INSPECT) == expected


def test_row_fields_and_methods() -> None:
    row = Row({"ID": "1", "Size": lambda: "2MB"}, {"Label": lambda k: {"a": "b"}.get(k, "")})
    assert render("{{.ID}} {{.Size}} {{.Label \"a\"}}", row) == "1 2MB b"
    assert render("{{json .}}", row) == '{"ID":"1","Size":"2MB"}'
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        render("{{.Nope}}", row)


@pytest.mark.parametrize("template", [
    "{{.Id", "{{end}}", "{{if .Id}}x", "{{nosuchfunc .Id}}", "{{index 3 1}}",
    "{{(.Id}}", "{{}}",
])
def test_errors(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, INSPECT)


def test_no_eval() -> None:
    with pytest.raises(TemplateError):
        render("{{__import__ \"os\"}}", {})
    assert render("{{.__class__}}", {}) == "<no value>"

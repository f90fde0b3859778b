"""Pure parts of the daemon and its API: flags and daemon.json, filters, timestamps,
X-Registry-Auth, event filters. No root, no daemon."""

from __future__ import annotations

import base64
import json

import pytest

from dockyard.api.events import EventBus, EventFilter, make_event
from dockyard.api.util import parse_timestamp, registry_auth
from dockyard.daemon import ConfigError, load_config, parse_ulimit

pytestmark = [pytest.mark.unit]


def test_defaults():
    cfg, _ = load_config(["--config-file", "/dev/null"])
    assert cfg.hosts == ["unix:///run/dockyard/dockyard.sock"]
    assert str(cfg.data_root) == "/var/lib/dockyard" and str(cfg.exec_root) == "/run/dockyard"
    assert cfg.live_restore is True and cfg.log_driver == "json-file"
    assert cfg.default_runtime == "dockyard-runtime" and "dockyard-runtime" in cfg.runtimes


def test_flags():
    cfg, _ = load_config([
        "--config-file", "/dev/null", "-H", "unix:///tmp/x.sock", "--insecure-registry", "a:5000",
        "--insecure-registry", "10.0.0.0/8", "--registry-mirror", "http://m", "--add-runtime",
        "runc=/usr/sbin/runc", "--default-runtime", "runc", "--live-restore=false",
        "--default-ulimit", "nofile=1024:4096", "--log-driver", "local", "--log-opt",
        "max-size=10m", "--log-level", "warn", "--dns", "127.0.0.1", "--dns", "10.0.0.53"])
    assert cfg.insecure_registries == ["a:5000", "10.0.0.0/8"] and cfg.mirrors == ["http://m"]
    assert cfg.runtimes["runc"] == {"path": "/usr/sbin/runc"} and cfg.default_runtime == "runc"
    assert cfg.live_restore is False
    assert cfg.default_ulimits == {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}}
    assert cfg.log_driver == "local" and cfg.log_opts == {"max-size": "10m"}
    assert cfg.log_level == "warn"
    assert cfg.dns == ["127.0.0.1", "10.0.0.53"]


def test_daemon_json(tmp_path):
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"default-ulimits": {"nproc": {"Name": "nproc", "Soft": 1,
                                                              "Hard": 2}},
                                "log-opts": {"max-file": "3"}, "debug": True,
                                "dns": ["192.0.2.53"]}))
    cfg, _ = load_config(["--config-file", str(conf)])
    assert cfg.default_ulimits["nproc"]["Hard"] == 2 and cfg.log_opts == {"max-file": "3"}
    assert cfg.log_level == "debug" and cfg.dns == ["192.0.2.53"]


@pytest.mark.parametrize("argv, message", [
    (["-H", "tcp://0.0.0.0:2375"], "without mutual TLS"),
    (["-H", "tcp://0.0.0.0:2376", "--tlsverify"], "without mutual TLS"),
    (["-H", "ssh://x"], "invalid daemon host"),
    (["--add-runtime", "nopath"], "NAME=PATH"),
    (["--default-runtime", "nope"], "does not exist"),
    (["--log-opt", "novalue"], "KEY=VALUE"),
])
def test_bad_flags(argv, message):
    with pytest.raises(ConfigError, match=message):
        load_config(["--config-file", "/dev/null", *argv])


def test_tcp_with_tls_accepted():
    cfg, _ = load_config(["--config-file", "/dev/null", "-H", "tcp://127.0.0.1:2376",
                          "--tlsverify", "--tlscacert", "ca", "--tlscert", "c", "--tlskey", "k"])
    assert cfg.hosts == ["tcp://127.0.0.1:2376"]


def test_ulimit():
    assert parse_ulimit("nofile=5") == {"Name": "nofile", "Soft": 5, "Hard": 5}
    with pytest.raises(ConfigError):
        parse_ulimit("nofile")


def test_timestamps():
    assert parse_timestamp("1700000000.5") == 1700000000.5
    assert parse_timestamp("10m", now=1000.0) == 400.0
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1700000000.0


def test_registry_auth_header():
    raw = json.dumps({"username": "u", "password": "p", "serveraddress": "h"}).encode()
    for enc in (base64.urlsafe_b64encode(raw).decode().rstrip("="),
                base64.b64encode(raw).decode()):
        assert registry_auth(enc) == {"username": "u", "password": "p", "serveraddress": "h"}
    assert registry_auth("e30=") == {}
    assert registry_auth("%%%") == {}
    assert registry_auth(None) == {}


def test_event_filter():
    ev = make_event("container", "start", "abc123def", {"name": "web", "image": "busybox",
                                                         "com.x": "1"})
    assert ev["status"] == "start" and ev["from"] == "busybox"
    assert EventFilter({"type": ["container"], "event": ["start"]})(ev)
    assert EventFilter({"container": ["web"]})(ev)
    assert EventFilter({"container": ["abc1"]})(ev)
    assert EventFilter({"image": ["busybox"]})(ev)
    assert EventFilter({"label": ["com.x=1"]})(ev)
    assert not EventFilter({"label": ["com.x=2"]})(ev)
    assert not EventFilter({"type": ["image"]})(ev)
    exec_ev = make_event("container", "exec_start: sh", "abc123def")
    assert EventFilter({"event": ["exec_start"]})(exec_ev)


def test_event_bus_keeps_history():
    bus = EventBus(history=2)
    for n in range(3):
        bus.publish("image", "tag", f"id{n}")
    assert [e["Actor"]["ID"] for e in bus._recent] == ["id1", "id2"]

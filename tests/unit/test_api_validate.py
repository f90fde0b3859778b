"""api/validate.py: a create body with a wrong JSON type or an unknown mode is refused
with Docker's message naming the field; null and the accepted forms pass."""

from __future__ import annotations

import pytest

from dockyard.api.validate import check_create

pytestmark = pytest.mark.unit

W = "json: cannot unmarshal {} into Go struct field ContainerConfigWrapper.{} of type {}"


@pytest.mark.parametrize("body,message", [
    ({"Image": 5}, W.format("number", "Image", "string")),
    ({"Tty": "yes"}, W.format("string", "Tty", "bool")),
    ({"Env": "A=1"}, W.format("string", "Env", "[]string")),
    ({"Env": ["A=1", 2]}, W.format("number", "Env", "string")),
    ({"Cmd": [1]}, W.format("array", "Cmd", "strslice.StrSlice")),
    ({"Labels": {"a": 1}}, W.format("number", "Labels", "string")),
    ({"StopTimeout": 1.5}, W.format("number 1.5", "StopTimeout", "int")),
    ({"Healthcheck": {"Interval": "1s"}},
     W.format("string", "Healthcheck.Interval", "time.Duration")),
    ({"HostConfig": {"Memory": "lots"}}, W.format("string", "HostConfig.Memory", "int64")),
    ({"HostConfig": {"Memory": True}}, W.format("bool", "HostConfig.Memory", "int64")),
    ({"HostConfig": {"BlkioWeight": 70000}},
     W.format("number 70000", "HostConfig.BlkioWeight", "uint16")),
    ({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "x"}]}},
     W.format("string", "HostConfig.Ulimits.Soft", "int64")),
    ({"HostConfig": {"RestartPolicy": "always"}},
     W.format("string", "HostConfig.RestartPolicy", "struct")),
    ({"HostConfig": []}, W.format("array", "HostConfig", "struct")),
    ({"HostConfig": {"CgroupnsMode": "weird"}}, "invalid cgroup namespace mode: weird"),
    ({"HostConfig": {"IpcMode": "weird"}}, "invalid IPC mode: weird"),
    ({"HostConfig": {"IpcMode": "container:"}}, "invalid IPC mode: container:"),
    ({"HostConfig": {"PidMode": "weird"}}, "invalid PID mode: weird"),
    ({"HostConfig": {"UTSMode": "private"}}, "invalid UTS mode: private"),
    ({"HostConfig": {"Isolation": "hyperv"}},
     "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
    ({"StopSignal": "SIGNOPE"}, "Invalid signal: SIGNOPE"),
])
def test_refused_with_the_field_named(body, message):
    with pytest.raises(ValueError) as err:
        check_create({"Image": "busybox", **body} if "Image" not in body else body)
    assert str(err.value) == message


@pytest.mark.parametrize("body", [
    {"Image": "busybox", "Cmd": "echo hi", "Entrypoint": None, "Env": None},
    {"Image": "busybox", "Cmd": ["sh", "-c", "true"], "Tty": False, "StopTimeout": 3},
    {"Image": "busybox", "StopSignal": "TERM"}, {"Image": "busybox", "StopSignal": "9"},
    {"Image": "busybox", "StopSignal": "SIGRTMIN+3"},
    {"Image": "busybox", "HostConfig": {"IpcMode": "container:abc", "PidMode": "host",
                                        "CgroupnsMode": "private", "UTSMode": "host",
                                        "Isolation": "default", "Memory": 0,
                                        "CpuQuota": -1, "MemorySwap": -1,
                                        "Ulimits": [{"Name": "nofile", "Soft": 1,
                                                     "Hard": 2}],
                                        "LogConfig": {"Type": "", "Config": {}},
                                        "PortBindings": {"80/tcp": None},
                                        "UnknownField": "ignored, as Go"}},
    {"Image": "busybox", "HostConfig": None, "Healthcheck": {"Test": ["NONE"]}},
])
def test_accepted(body):
    check_create(body)


def test_update_and_exec_bodies():
    from dockyard.api.validate import check_exec, check_update

    check_update({"Memory": 0, "CpuShares": 512, "RestartPolicy": {"Name": "always"},
                  "Unknown": "x"})
    with pytest.raises(ValueError, match=r"UpdateConfig\.Memory of type int64"):
        check_update({"Memory": "x"})
    with pytest.raises(ValueError, match=r"number 1.5 into .*UpdateConfig.CpuShares"):
        check_update({"CpuShares": 1.5})
    check_exec({"Cmd": ["ls"], "Tty": True, "Env": None, "ConsoleSize": [24, 80]})
    with pytest.raises(ValueError, match="string into Go struct field ExecConfig.Cmd of "
                                         r"type \[\]string"):
        check_exec({"Cmd": "ls"})
    with pytest.raises(ValueError, match=r"ExecConfig\.ConsoleSize of type uint"):
        check_exec({"Cmd": ["ls"], "ConsoleSize": [-1, 80]})

"""The last steps before execve (runtime/credentials.py): their order, executable lookup
and the environment. Every privileged or process-wide call is recorded, never made."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.config import Capabilities, Process, User
from dockyard.runtime.credentials import (
    apply_process_context,
    environment,
    find_executable,
    verify_cwd,
)
from dockyard.runtime.errors import ContainerInitError
from dockyard.runtime.linux import constants as c
from dockyard.runtime.linux.fake import RecordingSyscalls

pytestmark = pytest.mark.unit


HIGHEST = 40
FILTER = b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # one "return ALLOW" instruction


@pytest.fixture
def sys(monkeypatch: pytest.MonkeyPatch) -> RecordingSyscalls:
    """The fake, with os.setgroups/setresgid/setresuid/chdir/umask/getcwd recorded into the
    same call list, so the relative order of everything is visible."""
    fake = RecordingSyscalls()

    def recorder(name: str, result: Any = None):  # type: ignore[no-untyped-def]
        def record(*args: Any) -> Any:
            fake.calls.append((name, *args))
            return result

        return record

    for name in ("setgroups", "setresgid", "setresuid", "chdir"):
        monkeypatch.setattr(os, name, recorder(name))
    monkeypatch.setattr(os, "umask", recorder("umask", 0o022))
    monkeypatch.setattr(os, "getcwd", recorder("getcwd", "/work"))
    return fake


def load_filter_into(sys: RecordingSyscalls):  # type: ignore[no-untyped-def]
    return lambda program: sys.calls.append(("load_filter", program))


def process(**kw: Any) -> Process:
    kw.setdefault("args", ("sh",))
    kw.setdefault("cwd", "/work")
    return Process(**kw)


def names(sys: RecordingSyscalls) -> list[str]:
    """Call names, with prctl options spelled out."""
    labels = {c.PR_SET_NO_NEW_PRIVS: "NNP", c.PR_CAPBSET_DROP: "BOUNDING_DROP",
              c.PR_CAP_AMBIENT: "AMBIENT"}
    out = []
    for call in sys.calls:
        if call[0] == "prctl" and call[1] == c.PR_SET_KEEPCAPS:
            out.append(f"KEEPCAPS={call[2]}")
        elif call[0] == "prctl":
            out.append(labels[call[1]])
        else:
            out.append(call[0])
    return out


def squash(items: list[str]) -> list[str]:
    """Runs of the same name collapsed (the bounding drops, the ambient raises)."""
    return [item for i, item in enumerate(items) if i == 0 or items[i - 1] != item]


CAPS = Capabilities(
    bounding=("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
    effective=("CAP_KILL",),
    permitted=("CAP_KILL", "CAP_NET_BIND_SERVICE"),
    inheritable=("CAP_NET_BIND_SERVICE",),
    ambient=("CAP_NET_BIND_SERVICE",),
)
USER = User(uid=1000, gid=1001, umask=0o027, additional_gids=(5, 6))


def test_order_with_no_new_privileges(sys: RecordingSyscalls) -> None:
    apply_process_context(
        sys, process(no_new_privileges=True, capabilities=CAPS, user=USER), FILTER,
        load_filter_into(sys), HIGHEST,
    )
    assert squash(names(sys)) == [
        "NNP", "chdir", "BOUNDING_DROP", "KEEPCAPS=1", "setgroups", "setresgid", "setresuid",
        "KEEPCAPS=0", "capset", "AMBIENT", "chdir", "getcwd", "umask", "load_filter",
    ]
    # with no_new_privs the filter comes last, after every privileged call
    assert sys.calls[-1] == ("load_filter", FILTER)


def test_order_without_no_new_privileges(sys: RecordingSyscalls) -> None:
    apply_process_context(sys, process(capabilities=CAPS, user=USER), FILTER,
                          load_filter_into(sys), HIGHEST)
    order = squash(names(sys))
    assert "NNP" not in order
    # loading a filter without no_new_privs needs CAP_SYS_ADMIN: before any drop
    assert order == [
        "load_filter", "chdir", "BOUNDING_DROP", "KEEPCAPS=1", "setgroups", "setresgid",
        "setresuid", "KEEPCAPS=0", "capset", "AMBIENT", "chdir", "getcwd", "umask",
    ]


def test_ordering_constraints(sys: RecordingSyscalls) -> None:
    apply_process_context(sys, process(capabilities=CAPS, user=USER), FILTER,
                          load_filter_into(sys), HIGHEST)
    order = names(sys)

    def first(name: str) -> int:
        return order.index(name)

    def last(name: str) -> int:
        return len(order) - 1 - order[::-1].index(name)

    assert first("load_filter") < first("capset")
    assert last("BOUNDING_DROP") < first("setresuid")
    assert first("KEEPCAPS=1") < first("setresuid") < first("KEEPCAPS=0")
    assert first("setgroups") < first("setresgid") < first("setresuid")
    assert first("setresuid") < first("capset") < first("AMBIENT")
    assert last("chdir") > first("setresuid")  # again as the user
    assert first("getcwd") > last("chdir")  # the cwd is verified after the last chdir


def test_recorded_arguments(sys: RecordingSyscalls) -> None:
    apply_process_context(sys, process(capabilities=CAPS, user=USER), None, None, HIGHEST)
    calls = sys.calls
    assert ("setgroups", [5, 6]) in calls
    assert ("setresgid", 1001, 1001, 1001) in calls
    assert ("setresuid", 1000, 1000, 1000) in calls
    assert ("umask", 0o027) in calls
    assert calls.count(("chdir", "/work")) == 2
    kept = {0, 5, 10}
    assert [call[2] for call in calls if call[:2] == ("prctl", c.PR_CAPBSET_DROP)] == [
        n for n in range(HIGHEST + 1) if n not in kept
    ]
    assert ("capset", 1 << 5, 1 << 5 | 1 << 10, 1 << 10) in calls
    ambient = [call for call in calls if call[:2] == ("prctl", c.PR_CAP_AMBIENT)]
    assert ambient == [
        ("prctl", c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL, 0),
        ("prctl", c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, 10),
    ]


def test_without_capabilities_or_filter(sys: RecordingSyscalls) -> None:
    apply_process_context(sys, process(), None, load_filter_into(sys), HIGHEST)
    assert names(sys) == [
        "chdir", "KEEPCAPS=1", "setgroups", "setresgid", "setresuid", "KEEPCAPS=0", "chdir",
        "getcwd", "umask",
    ]
    assert ("setgroups", []) in sys.calls
    assert ("setresuid", 0, 0, 0) in sys.calls
    assert ("umask", 0o022) in sys.calls  # the default umask


def test_filter_without_loader_is_not_loaded(sys: RecordingSyscalls) -> None:
    apply_process_context(sys, process(no_new_privileges=True), FILTER, None, HIGHEST)
    assert "load_filter" not in names(sys)


def test_cwd_that_cannot_be_entered(sys: RecordingSyscalls,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def chdir(path: str) -> None:
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(os, "chdir", chdir)
    with pytest.raises(ContainerInitError,
                       match=r"^process\.cwd: cannot change to /nope: No such file"):
        apply_process_context(sys, process(cwd="/nope", user=USER), None, None, HIGHEST)
    assert "setresuid" not in names(sys)  # failed before dropping anything


@pytest.mark.parametrize("cwd", ["(unreachable)/", "(unreachable)/proc/self/fd/7"])
def test_verify_cwd_refuses_unreachable(monkeypatch: pytest.MonkeyPatch, cwd: str) -> None:
    monkeypatch.setattr(os, "getcwd", lambda: cwd)
    with pytest.raises(ContainerInitError, match=r"^process\.cwd: .* outside the container"):
        verify_cwd()


def test_verify_cwd_refuses_a_deleted_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone() -> str:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "getcwd", gone)
    with pytest.raises(ContainerInitError, match=r"^process\.cwd: .*not reachable"):
        verify_cwd()


def test_unreachable_cwd_stops_before_exec(sys: RecordingSyscalls,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getcwd", lambda: "(unreachable)/")
    with pytest.raises(ContainerInitError):
        apply_process_context(sys, process(no_new_privileges=True), FILTER,
                              load_filter_into(sys), HIGHEST)
    assert "load_filter" not in names(sys) and "umask" not in names(sys)


def test_verify_cwd_accepts_absolute() -> None:
    verify_cwd()  # the test process's own cwd


# --- find_executable -----------------------------------------------------------------------


def executable(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_path_search_order(scratch: Path) -> None:
    first = executable(scratch / "a/tool")
    executable(scratch / "b/tool")
    path = f"PATH={scratch / 'missing'}:{scratch / 'a'}:{scratch / 'b'}"
    assert find_executable(process(args=("tool",), env=(path,))) == str(first)


def test_path_search_skips_non_executable_and_directories(scratch: Path) -> None:
    executable(scratch / "a/tool", 0o644)
    (scratch / "b/tool").mkdir(parents=True)
    found = executable(scratch / "c/tool")
    path = f"PATH={scratch / 'a'}:{scratch / 'b'}:{scratch / 'c'}"
    assert find_executable(process(args=("tool",), env=(path,))) == str(found)


def test_path_uses_the_last_path_entry(scratch: Path) -> None:
    executable(scratch / "a/tool")
    found = executable(scratch / "b/tool")
    env = (f"PATH={scratch / 'a'}", f"PATH={scratch / 'b'}")
    assert find_executable(process(args=("tool",), env=env)) == str(found)


def test_default_path_when_unset() -> None:
    assert find_executable(process(args=("sh",))) in ("/usr/bin/sh", "/bin/sh",
                                                       "/usr/local/bin/sh", "/usr/sbin/sh",
                                                       "/sbin/sh", "/usr/local/sbin/sh")


def test_empty_path_entry_is_the_cwd(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable(scratch / "tool")
    monkeypatch.chdir(scratch)
    assert find_executable(process(args=("tool",), env=("PATH=/nonexistent:",))) == "./tool"


def test_absolute_path(scratch: Path) -> None:
    tool = executable(scratch / "bin/tool")
    assert find_executable(process(args=(str(tool),), env=("PATH=/nonexistent",))) == str(tool)


def test_not_found_in_path(scratch: Path) -> None:
    with pytest.raises(ContainerInitError) as info:
        find_executable(process(args=("nope",), env=(f"PATH={scratch}",)))
    assert str(info.value) == "exec: 'nope': executable file not found in $PATH"


def test_absolute_path_not_found(scratch: Path) -> None:
    with pytest.raises(ContainerInitError) as info:
        find_executable(process(args=(str(scratch / "nope"),)))
    assert str(info.value) == f"exec: '{scratch / 'nope'}': executable file not found"


def test_absolute_path_not_executable(scratch: Path) -> None:
    tool = executable(scratch / "tool", 0o644)
    with pytest.raises(ContainerInitError) as info:
        find_executable(process(args=(str(tool),)))
    assert str(info.value) == f"exec: '{tool}': permission denied"


# --- environment ------------------------------------------------------------------------


def test_environment_last_wins() -> None:
    env = environment(process(env=("A=1", "B=2", "A=3", "C=x=y", "EMPTY=")))
    assert env == {"A": "3", "B": "2", "C": "x=y", "EMPTY": ""}
    assert list(env) == ["A", "B", "C", "EMPTY"]


def test_environment_empty() -> None:
    assert environment(process()) == {}


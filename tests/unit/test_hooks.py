"""OCI hooks (runtime/hooks.py), run for real: tiny shell scripts in a temp dir, no root."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dockyard.runtime.config import Hook
from dockyard.runtime.hooks import HookError, run_hook, run_hooks

pytestmark = pytest.mark.unit


STATE = {"ociVersion": "1.2.0", "id": "c1", "status": "created", "pid": 42,
         "bundle": "/b", "annotations": {"a": "b"}}
STATE_JSON = json.dumps(STATE).encode()


def script(scratch: Path, name: str, body: str) -> str:
    path = scratch / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


@contextmanager
def child_cannot_escape() -> Iterator[None]:
    """If the forked hook child ever returns into the test instead of exec'ing or
    exiting, end it here with status 99 rather than let it run the rest of pytest."""
    parent = os.getpid()
    try:
        yield
    finally:
        if os.getpid() != parent:
            os._exit(99)


def test_state_json_on_stdin(scratch: Path) -> None:
    out = scratch / "stdin"
    hook = Hook(path=script(scratch, "h", f"cat > {out}"))
    with child_cannot_escape():
        run_hooks("prestart", (hook,), STATE_JSON)
    assert out.read_bytes() == STATE_JSON
    assert json.loads(out.read_bytes()) == STATE


def test_args_after_argv0(scratch: Path) -> None:
    out = scratch / "args"
    hook = Hook(path=script(scratch, "h", f"printf '%s\\n' \"$@\" > {out}"),
                args=("hook-name", "one", "two words"))
    with child_cannot_escape():
        run_hook("hooks.poststart[0]", hook, STATE_JSON)
    assert out.read_text() == "one\ntwo words\n"


def test_env_passed_exactly(capfd: pytest.CaptureFixture[str]) -> None:
    hook = Hook(path="/usr/bin/env", args=("env",), env=("A=1", "B=x=y", "EMPTY="))
    with child_cannot_escape():
        run_hook("hooks.createRuntime[0]", hook, STATE_JSON)
    assert capfd.readouterr().out == "A=1\nB=x=y\nEMPTY=\n"


def test_no_env_means_an_empty_environment(capfd: pytest.CaptureFixture[str]) -> None:
    with child_cannot_escape():
        run_hook("hooks.prestart[0]", Hook(path="/usr/bin/env"), STATE_JSON)
    assert capfd.readouterr().out == ""


def test_hook_need_not_read_stdin(scratch: Path) -> None:
    with child_cannot_escape():
        run_hooks("poststop", (Hook(path=script(scratch, "h", "exit 0")),), STATE_JSON)


def test_non_zero_exit_names_the_hook(scratch: Path) -> None:
    path = script(scratch, "fail", "exit 3")
    with child_cannot_escape(), pytest.raises(HookError) as info:
        run_hooks("prestart", (Hook(path=path),), STATE_JSON)
    assert str(info.value) == f"hooks.prestart[0]: {path} failed with exit status 3"


def test_hooks_run_in_order_and_stop_at_the_first_failure(scratch: Path) -> None:
    log = scratch / "log"
    hooks = (
        Hook(path=script(scratch, "h0", f"echo 0 >> {log}")),
        Hook(path=script(scratch, "h1", f"echo 1 >> {log}; exit 1")),
        Hook(path=script(scratch, "h2", f"echo 2 >> {log}")),
    )
    with child_cannot_escape(), pytest.raises(HookError, match=r"^hooks\.poststart\[1\]: "):
        run_hooks("poststart", hooks, STATE_JSON)
    assert log.read_text() == "0\n1\n"


def test_killed_by_a_signal(scratch: Path) -> None:
    path = script(scratch, "h", "kill -9 $$")
    with child_cannot_escape(), pytest.raises(HookError) as info:
        run_hooks("createContainer", (Hook(path=path),), STATE_JSON)
    assert str(info.value) == f"hooks.createContainer[0]: {path} failed with exit status -9"


def test_missing_program(scratch: Path, capfd: pytest.CaptureFixture[str]) -> None:
    missing = str(scratch / "nope")
    with child_cannot_escape(), pytest.raises(HookError) as info:
        run_hooks("prestart", (Hook(path=missing),), STATE_JSON)
    assert str(info.value) == f"hooks.prestart[0]: {missing} failed with exit status 127"
    assert f"hooks.prestart[0]: {missing}: No such file or directory" in capfd.readouterr().err


def test_timeout(scratch: Path) -> None:
    path = script(scratch, "slow", "exec sleep 5")
    started = time.monotonic()
    with child_cannot_escape(), pytest.raises(HookError) as info:
        run_hooks("prestart", (Hook(path=path, timeout=1),), STATE_JSON)
    assert time.monotonic() - started < 2  # killed, not waited for
    assert str(info.value) == f"hooks.prestart[0]: {path} timed out after 1s"


def test_no_timeout_waits(scratch: Path) -> None:
    with child_cannot_escape():
        run_hooks("prestart", (Hook(path=script(scratch, "h", "sleep 0.2; exit 0")),), STATE_JSON)


def test_bad_env_entry_fails_the_hook_cleanly(scratch: Path) -> None:
    path = script(scratch, "h", "exit 0")
    with child_cannot_escape(), pytest.raises(HookError) as info:
        run_hook("hooks.prestart[0]", Hook(path=path, env=("NOEQUALS",)), STATE_JSON)
    # here the escaped child ends with 99 in child_cannot_escape
    assert "exit status 127" in str(info.value)


def test_timeout_holds_with_a_large_state(scratch: Path) -> None:
    path = script(scratch, "slow", "exec sleep 0.1")
    big = json.dumps({**STATE, "annotations": {"x": "y" * (1 << 20)}}).encode()
    # a sub-second timeout (an int in config.json) keeps this test fast
    with child_cannot_escape(), pytest.raises(HookError, match="timed out"):
        run_hook("hooks.prestart[0]", Hook(path=path, timeout=0.01), big)  # type: ignore[arg-type]

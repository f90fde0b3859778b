"""The container lifecycle table: allowed operations, transitions, Docker's refusals."""

from __future__ import annotations

import pytest

from dockyard.engine import state as s
from dockyard.engine.errors import Conflict, NotModified

pytestmark = pytest.mark.unit

ALL = list(s.State)


@pytest.mark.parametrize("st", ALL)
def test_every_operation_has_an_answer_for_every_state(st):
    for op in s.ALLOWED:
        if s.can(op, st):
            s.check(op, "x", st)
        else:
            with pytest.raises((Conflict, NotModified)):
                s.check(op, "x", st)


def test_kill_not_running_names_the_container():
    with pytest.raises(Conflict, match=r"^Container web is not running$"):
        s.can_kill("/web", s.State.EXITED)
    with pytest.raises(Conflict, match="is not running"):
        s.can_exec("web", s.State.CREATED)


def test_remove_running_needs_force():
    with pytest.raises(Conflict) as err:
        s.can_remove("/web", s.State.RUNNING)
    assert err.value.status == 409
    assert "cannot remove container \"/web\": container is running" in err.value.message
    assert "Stop the container before attempting removal or force remove" in err.value.message
    s.can_remove("/web", s.State.RUNNING, force=True)
    s.can_remove("/web", s.State.EXITED)
    s.can_remove("/web", s.State.DEAD)


def test_paused_refusals():
    with pytest.raises(Conflict, match="is paused, unpause the container"):
        s.can_kill("a", s.State.PAUSED)
    with pytest.raises(Conflict, match="Container a is already paused"):
        s.can_pause("a", s.State.PAUSED)
    with pytest.raises(Conflict, match="Container a is not paused"):
        s.can_unpause("a", s.State.RUNNING)
    s.can_unpause("a", s.State.PAUSED)


def test_start_and_stop_not_modified():
    with pytest.raises(NotModified) as err:
        s.can_start("a", s.State.RUNNING)
    assert err.value.status == 304
    with pytest.raises(NotModified):
        s.can_stop("a", s.State.EXITED)
    s.can_start("a", s.State.CREATED)
    s.can_start("a", s.State.EXITED)


def test_removing_is_named():
    with pytest.raises(Conflict, match="removal of container a is already in progress"):
        s.can_start("a", s.State.REMOVING)


@pytest.mark.parametrize(("src", "event", "dst"), [
    ("created", "started", "running"),
    ("running", "paused", "paused"),
    ("paused", "unpaused", "running"),
    ("running", "exited", "exited"),
    ("running", "restart_scheduled", "restarting"),
    ("restarting", "started", "running"),
    ("exited", "removing", "removing"),
    ("removing", "remove_failed", "dead"),
])
def test_transitions(src, event, dst):
    assert s.transition(s.State(src), event) == s.State(dst)


def test_invalid_transition_names_state():
    with pytest.raises(Conflict, match="from created on paused"):
        s.transition(s.State.CREATED, "paused")

"""The container lifecycle: every state and every allowed operation, in one table.

Theory of operation
-------------------
A container is *created* when its record, writable snapshot and directory exist.
``start`` mounts the rootfs, writes config.json and launches a shim; the shim
creates the container with the runtime, starts it and reports the pid: the
container is *running*. ``pause`` freezes its cgroup (*paused*); ``unpause`` thaws
it. When the init exits the shim records the status and exits; the engine reads
the record and the container becomes *exited* -- or *restarting* when its restart
policy says so, until the back-off delay is over and it is started again. A
container whose cleanup failed is *dead*: it can only be removed. ``remove`` moves
any state to *removing* (a running one only with force) and then the container is
gone. Live restore re-enters this table: a container whose shim still runs is
running (or paused), one whose shim is gone is exited.

The table below maps (state, operation) to whether the operation is allowed; for a
refused one, the error that names the state, with Docker's texts and status codes.
"""

from __future__ import annotations

import enum

from .errors import Conflict, EngineError, NotModified


class State(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    DEAD = "dead"
    REMOVING = "removing"


C, R, P, RS, X, D, RM = (State.CREATED, State.RUNNING, State.PAUSED, State.RESTARTING,
                         State.EXITED, State.DEAD, State.REMOVING)

# Operation -> states where it is allowed.  Anything else is refused by refusal().
ALLOWED: dict[str, frozenset[State]] = {
    "start": frozenset({C, X}),
    "stop": frozenset({R, P, RS}),
    "kill": frozenset({R, RS}),
    "restart": frozenset({C, R, X, RS, P}),
    "pause": frozenset({R}),
    "unpause": frozenset({P}),
    "remove": frozenset({C, X, D}),
    "remove_force": frozenset({C, R, P, RS, X, D}),
    "rename": frozenset({C, R, P, RS, X, D}),
    "exec": frozenset({R}),
    "attach": frozenset({C, R, P, RS, X}),
    "top": frozenset({R, P}),
    "wait": frozenset({C, R, P, RS, X, D, RM}),
    "update": frozenset({C, R, P, RS, X}),
}

# Transitions the engine makes: (from, event) -> to.
TRANSITIONS: dict[tuple[State, str], State] = {
    (C, "started"): R,
    (X, "started"): R,
    (RS, "started"): R,
    (R, "paused"): P,
    (P, "unpaused"): R,
    (R, "exited"): X,
    (P, "exited"): X,
    (R, "restart_scheduled"): RS,
    (P, "restart_scheduled"): RS,
    (RS, "exited"): X,  # a restart that was cancelled (stop) or failed
    (C, "start_failed"): C,
    (X, "start_failed"): X,
    (RS, "start_failed"): X,
    (C, "removing"): RM,
    (R, "removing"): RM,
    (P, "removing"): RM,
    (RS, "removing"): RM,
    (X, "removing"): RM,
    (D, "removing"): RM,
    (RM, "remove_failed"): D,
    (R, "dead"): D,
    (X, "dead"): D,
}


def transition(state: State, event: str) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise Conflict(f"invalid transition from {state} on {event}") from None


def refusal(op: str, name: str, state: State) -> EngineError:
    """The error Docker answers with when ``op`` is not allowed in ``state``."""
    name = name.lstrip("/")
    if op == "start" and state in (R, P):
        return NotModified(f"Container {name} is already started")
    if op == "start" and state == RS:
        return Conflict(f"Container {name} is restarting, wait until it is running")
    if op == "stop":
        return NotModified(f"Container {name} is already stopped")
    if op in ("remove",) and state in (R, P, RS):
        verb = {R: "running", P: "paused", RS: "restarting"}[state]
        return Conflict(f"cannot remove container \"/{name}\": container is {verb}: "
                        "Stop the container before attempting removal or force remove")
    if state == RM:
        return Conflict(f"removal of container {name} is already in progress")
    if op == "pause" and state == P:
        return Conflict(f"Container {name} is already paused")
    if op == "unpause" and state != P:
        return Conflict(f"Container {name} is not paused")
    if op in ("kill", "pause", "exec", "top") and state == P:
        return Conflict(f"Container {name} is paused, unpause the container before {op}")
    if op in ("kill", "pause", "exec", "top"):
        return Conflict(f"Container {name} is not running")
    if state == D:
        return Conflict(f"Container {name} is dead or marked for removal")
    return Conflict(f"Container {name} is {state}: cannot {op}")


def check(op: str, name: str, state: State) -> None:
    """Raise the named refusal unless ``op`` is allowed in ``state``."""
    if state not in ALLOWED[op]:
        raise refusal(op, name, state)


def can(op: str, state: State) -> bool:
    return state in ALLOWED[op]


def can_start(name: str, state: State) -> None:
    check("start", name, state)


def can_stop(name: str, state: State) -> None:
    check("stop", name, state)


def can_kill(name: str, state: State) -> None:
    check("kill", name, state)


def can_pause(name: str, state: State) -> None:
    check("pause", name, state)


def can_unpause(name: str, state: State) -> None:
    check("unpause", name, state)


def can_remove(name: str, state: State, force: bool = False) -> None:
    check("remove_force" if force else "remove", name, state)


def can_exec(name: str, state: State) -> None:
    check("exec", name, state)

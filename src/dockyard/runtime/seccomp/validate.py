"""OCI ``linux.seccomp`` -> a checked, normalized plan for the compiler.

Pure: no libseccomp here. Actions are encoded as the kernel's SECCOMP_RET_*
values and comparisons as libseccomp's ``enum scmp_compare``, both stable ABI.
Every error names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .arches import SCMP_ARCHES
from .errors import SeccompError

FIELD = "linux.seccomp"

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_DATA = 0x0000FFFF

EPERM = 1
MAX_ERRNO = 4095
MAX_ARG_INDEX = 5
U64_MAX = 2**64 - 1

_FIXED_ACTIONS = {
    "SCMP_ACT_KILL": RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": RET_TRAP,
    "SCMP_ACT_ALLOW": RET_ALLOW,
    "SCMP_ACT_LOG": RET_LOG,
}
# These carry an errno (ERRNO) or a tracer message (TRACE); EPERM if unset, as runc does.
_DATA_ACTIONS = {"SCMP_ACT_ERRNO": RET_ERRNO, "SCMP_ACT_TRACE": RET_TRACE}
# Allowed-like actions: a filter defaulting to one of these needs no ENOSYS patch.
PERMISSIVE = frozenset({RET_ALLOW, RET_LOG})

OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# OCI flags -> SECCOMP_FILTER_FLAG_* bits for seccomp(2).
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}


class Condition(NamedTuple):
    index: int
    op: int
    value: int
    value_two: int


class Rule(NamedTuple):
    field: str
    names: tuple[str, ...]
    action: int
    conditions: tuple[Condition, ...]


class Plan(NamedTuple):
    default_action: int
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]

    def canonical(self) -> dict:
        """What the BPF program depends on, as JSON-ready data (for cache keys)."""
        return {
            "default": self.default_action,
            "arches": list(self.architectures),
            "rules": [
                [
                    list(rule.names),
                    rule.action,
                    [[c.index, c.op, c.value, c.value_two] for c in rule.conditions],
                ]
                for rule in self.rules
            ],
        }


def is_permissive(action: int) -> bool:
    return action in PERMISSIVE or action & ~RET_DATA == RET_TRACE


def plan(seccomp: Any) -> Plan:
    """Check an OCI ``linux.seccomp`` object and reduce it to a ``Plan``."""
    if not isinstance(seccomp, Mapping):
        raise SeccompError(FIELD, "must be an object")
    default = _action(
        seccomp.get("defaultAction"),
        seccomp.get("defaultErrnoRet"),
        f"{FIELD}.defaultAction",
        f"{FIELD}.defaultErrnoRet",
    )
    arches = _list(seccomp.get("architectures"), f"{FIELD}.architectures")
    for i, arch in enumerate(arches):
        if arch not in SCMP_ARCHES:
            raise SeccompError(f"{FIELD}.architectures[{i}]", f"unknown architecture {arch!r}")
    rules = tuple(
        _rule(syscall, f"{FIELD}.syscalls[{i}]")
        for i, syscall in enumerate(_list(seccomp.get("syscalls"), f"{FIELD}.syscalls"))
    )
    return Plan(default, tuple(arches), rules)


def _list(value: Any, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeccompError(field, "must be a list")
    return value


def _int(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SeccompError(field, f"must be an integer from {low} to {high}, not {value!r}")
    return value


def _action(name: Any, errno: Any, field: str, errno_field: str) -> int:
    if name is None:
        raise SeccompError(field, "missing")
    if name == "SCMP_ACT_NOTIFY":
        raise SeccompError(field, "SCMP_ACT_NOTIFY is not supported yet")
    if name in _FIXED_ACTIONS:
        return _FIXED_ACTIONS[name]
    if name in _DATA_ACTIONS:
        data = EPERM if errno is None else _int(errno, errno_field, 0, MAX_ERRNO)
        return _DATA_ACTIONS[name] | data
    raise SeccompError(field, f'unknown action "{name}"')


def _rule(syscall: Any, field: str) -> Rule:
    if not isinstance(syscall, Mapping):
        raise SeccompError(field, "must be an object")
    names = _list(syscall.get("names"), f"{field}.names")
    if not names:
        raise SeccompError(f"{field}.names", "missing")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise SeccompError(f"{field}.names[{i}]", f"must be a syscall name, not {name!r}")
    action = _action(
        syscall.get("action"), syscall.get("errnoRet"), f"{field}.action", f"{field}.errnoRet"
    )
    args = _list(syscall.get("args"), f"{field}.args")
    if len(args) > MAX_ARG_INDEX + 1:
        raise SeccompError(f"{field}.args", f"at most {MAX_ARG_INDEX + 1} conditions")
    conditions = tuple(_condition(arg, f"{field}.args[{i}]") for i, arg in enumerate(args))
    return Rule(field, tuple(names), action, conditions)


def _condition(arg: Any, field: str) -> Condition:
    if not isinstance(arg, Mapping):
        raise SeccompError(field, "must be an object")
    if "index" not in arg:
        raise SeccompError(f"{field}.index", "missing")
    index = _int(arg["index"], f"{field}.index", 0, MAX_ARG_INDEX)
    op_name = arg.get("op")
    if op_name not in OPS:
        raise SeccompError(f"{field}.op", f'unknown operator "{op_name}"')
    value = _int(arg.get("value", 0), f"{field}.value", 0, U64_MAX)
    value_two = _int(arg.get("valueTwo", 0), f"{field}.valueTwo", 0, U64_MAX)
    return Condition(index, OPS[op_name], value, value_two)


def filter_flags(seccomp: Mapping[str, Any]) -> int:
    """The seccomp(2) flags that ``linux.seccomp.flags`` asks for."""
    bits = 0
    for i, name in enumerate(_list(seccomp.get("flags"), f"{FIELD}.flags")):
        if name not in FLAGS:
            raise SeccompError(f"{FIELD}.flags[{i}]", f'unknown flag "{name}"')
        bits |= FLAGS[name]
    return bits

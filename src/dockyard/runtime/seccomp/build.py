"""Plan -> classic BPF program bytes, through libseccomp (the cold path).

Only imported on a cache miss: pyseccomp is slow to import.
"""

from __future__ import annotations

import logging
import os

import pyseccomp

from . import libseccomp
from .arches import SCMP_ARCHES
from .enosys import enosys_stub
from .errors import SeccompError
from .load import BPF_MAXINSNS
from .validate import FIELD, RET_ERRNO, Plan, Rule, is_permissive

log = logging.getLogger(__name__)

_ENOSYS = 38


def build(plan: Plan) -> bytes:
    """The BPF program for ``plan``: ENOSYS prologue + libseccomp's filter."""
    try:
        flt = pyseccomp.SyscallFilter(plan.default_action)
    except OSError as exc:
        raise SeccompError(
            f"{FIELD}.defaultAction", f"rejected by libseccomp: {exc.strerror}"
        ) from None
    # The runtime sets no_new_privs itself when config.json asks for it; the
    # filter must not imply it.
    flt.set_attr(pyseccomp.Attr.CTL_NNP, 0)
    arches = _add_arches(flt, plan)

    unknown: set[str] = set()
    for rule in plan.rules:
        # libseccomp refuses rules that repeat the default action; they are no-ops.
        if rule.action != plan.default_action:
            _add_rule(flt, rule, unknown)
    if unknown:
        log.warning(
            "seccomp: ignoring syscalls unknown to libseccomp %s: %s",
            libseccomp.version(),
            ", ".join(sorted(unknown)),
        )

    program = _export(flt)
    if _wants_enosys(plan):
        program = enosys_stub(_last_syscalls(plan, arches)) + program
    count = len(program) // 8
    if count > BPF_MAXINSNS:
        raise SeccompError(FIELD, f"filter has {count} BPF instructions, over {BPF_MAXINSNS}")
    return program


def _add_arches(flt: pyseccomp.SyscallFilter, plan: Plan) -> list[int]:
    arches = [pyseccomp.system_arch()]
    for i, name in enumerate(plan.architectures):
        token = SCMP_ARCHES[name]
        if token in arches:
            continue
        try:
            flt.add_arch(token)
        except OSError as exc:
            raise SeccompError(
                f"{FIELD}.architectures[{i}]",
                f"{name} not supported by libseccomp {libseccomp.version()}: {exc.strerror}",
            ) from None
        arches.append(token)
    return arches


def _add_rule(flt: pyseccomp.SyscallFilter, rule: Rule, unknown: set[str]) -> None:
    args = [pyseccomp.Arg(c.index, c.op, c.value, c.value_two) for c in rule.conditions]
    # runc reads several conditions on one argument as alternatives (one rule
    # each, as old libseccomp could not combine them); profiles rely on that.
    indexes = [c.index for c in rule.conditions]
    alternatives = [[a] for a in args] if len(set(indexes)) < len(indexes) else [args]
    for name in rule.names:
        nr = libseccomp.resolve(name)
        if nr == libseccomp.NR_UNKNOWN:
            unknown.add(name)
            continue
        for conditions in alternatives:
            try:
                flt.add_rule(rule.action, nr, *conditions)
            except OSError as exc:
                raise SeccompError(
                    rule.field, f'libseccomp rejected a rule for "{name}": {exc.strerror}'
                ) from None


def _export(flt: pyseccomp.SyscallFilter) -> bytes:
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        with open(fd, "rb", closefd=False) as sink:
            flt.export_bpf(sink)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _wants_enosys(plan: Plan) -> bool:
    default = plan.default_action
    return not is_permissive(default) and default != RET_ERRNO | _ENOSYS


def _last_syscalls(plan: Plan, arches: list[int]) -> dict[int, int]:
    """Highest syscall number the profile names, per arch of the filter."""
    names = {name for rule in plan.rules for name in rule.names}
    last: dict[int, int] = {}
    for arch in arches:
        numbers = [libseccomp.resolve(name, arch) for name in names]
        highest = max((nr for nr in numbers if nr >= 0), default=-1)
        if highest > 0:
            last[arch] = highest
    return last

"""A BPF prologue that answers ENOSYS for syscalls newer than the profile.

An allow-list profile denies every syscall it does not name with its default
errno, usually EPERM. For syscalls the kernel added after the profile was
written that is wrong: libc probes a new syscall and falls back to an older
one only on ENOSYS (glibc's fchmodat2 -> fchmodat, clone3 -> clone). Like
runc, we prepend a check: per architecture, a syscall number above the highest
one the profile names returns ENOSYS; everything else falls through into the
libseccomp-generated filter unchanged. BPF jumps are relative and forward only,
so prepending never disturbs the filter's own jumps.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from .arches import AUDIT_ARCH_X86_64, SCMP_ARCHES, X32_SYSCALL_BIT

SOCK_FILTER = struct.Struct("=HBBI")  # struct sock_filter, in host byte order

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JA = 0x05  # BPF_JMP | BPF_JA
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGT = 0x25  # BPF_JMP | BPF_JGT | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K

_OFFSET_NR = 0  # struct seccomp_data.nr
_OFFSET_ARCH = 4  # struct seccomp_data.arch
RET_ENOSYS = 0x00050000 | 38  # SECCOMP_RET_ERRNO | ENOSYS

_X32 = SCMP_ARCHES["SCMP_ARCH_X32"]
# On s390(x) the kernel turns syscall numbers it does not know into 0, the
# obsolete setup(2): answer ENOSYS for it too.
_S390 = {SCMP_ARCHES["SCMP_ARCH_S390"], SCMP_ARCHES["SCMP_ARCH_S390X"]}


class _Assembler:
    """Classic BPF with symbolic forward jump targets."""

    def __init__(self) -> None:
        self._code: list[tuple[int, str | None, str | None, int | str]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self._labels[name] = len(self._code)

    def emit(
        self, code: int, k: int | str = 0, jt: str | None = None, jf: str | None = None
    ) -> None:
        self._code.append((code, jt, jf, k))

    def _skip(self, target: str | None, at: int, limit: int) -> int:
        if target is None:
            return 0
        skip = self._labels[target] - at - 1
        if not 0 <= skip <= limit:
            raise ValueError(f"BPF jump to {target} out of range")
        return skip

    def assemble(self) -> bytes:
        out = bytearray()
        for at, (code, jt, jf, k) in enumerate(self._code):
            if isinstance(k, str):
                k = self._skip(k, at, 0xFFFFFFFF)
            out += SOCK_FILTER.pack(code, self._skip(jt, at, 255), self._skip(jf, at, 255), k)
        return bytes(out)


def enosys_stub(last_syscalls: Mapping[int, int]) -> bytes:
    """The prologue for ``{SCMP_ARCH_* value: highest syscall number named}``."""
    # Kernel audit arch -> {is x32: highest number}; x86_64 and x32 share one audit arch.
    sections: dict[int, dict[bool, int]] = {}
    for scmp_arch, highest in last_syscalls.items():
        audit = AUDIT_ARCH_X86_64 if scmp_arch == _X32 else scmp_arch
        sections.setdefault(audit, {})[scmp_arch == _X32] = highest

    asm = _Assembler()
    asm.emit(_LD_W_ABS, _OFFSET_ARCH)
    for audit in sorted(sections):
        asm.emit(_JEQ, audit, jt=f"arch{audit:x}")
    asm.emit(_JA, "filter")
    for audit, highest in sorted(sections.items()):
        asm.label(f"arch{audit:x}")
        asm.emit(_LD_W_ABS, _OFFSET_NR)
        if audit in _S390:
            asm.emit(_JEQ, 0, jt="enosys")
        if audit == AUDIT_ARCH_X86_64:
            asm.emit(_JSET, X32_SYSCALL_BIT, jt=f"x32_{audit:x}")
            _limit(asm, highest.get(False))
            asm.label(f"x32_{audit:x}")
            _limit(asm, highest.get(True))
        else:
            _limit(asm, highest[False])
    asm.label("enosys")
    asm.emit(_RET, RET_ENOSYS)
    asm.label("filter")
    return asm.assemble()


def _limit(asm: _Assembler, highest: int | None) -> None:
    if highest is None:
        # This mode is not in the filter: libseccomp's bad-arch action handles it.
        asm.emit(_JA, "filter")
    else:
        asm.emit(_JGT, highest, jt="enosys", jf="filter")

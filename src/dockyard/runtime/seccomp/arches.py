"""Architecture names: uname(2) machines, profile arch names and libseccomp tokens."""

from __future__ import annotations

import os

# ELF machine numbers and audit flags from <linux/elf-em.h> and <linux/audit.h>.
_EM = {
    "X86": 3, "X86_64": 62, "ARM": 40, "AARCH64": 183, "MIPS": 8, "PPC": 20, "PPC64": 21,
    "S390": 22, "PARISC": 15, "RISCV": 243, "LOONGARCH": 258, "M68K": 4, "SH": 42,
}
_64BIT = 0x80000000
_LE = 0x40000000
_N32 = 0x20000000

# libseccomp's SCMP_ARCH_* values. Each equals the kernel's AUDIT_ARCH_* except X32,
# which is libseccomp's own token: the kernel reports x32 calls as AUDIT_ARCH_X86_64
# with bit 30 set in the syscall number.
SCMP_ARCHES: dict[str, int] = {
    "SCMP_ARCH_X86": _EM["X86"] | _LE,
    "SCMP_ARCH_X86_64": _EM["X86_64"] | _64BIT | _LE,
    "SCMP_ARCH_X32": _EM["X86_64"] | _LE,
    "SCMP_ARCH_ARM": _EM["ARM"] | _LE,
    "SCMP_ARCH_AARCH64": _EM["AARCH64"] | _64BIT | _LE,
    "SCMP_ARCH_MIPS": _EM["MIPS"],
    "SCMP_ARCH_MIPS64": _EM["MIPS"] | _64BIT,
    "SCMP_ARCH_MIPS64N32": _EM["MIPS"] | _64BIT | _N32,
    "SCMP_ARCH_MIPSEL": _EM["MIPS"] | _LE,
    "SCMP_ARCH_MIPSEL64": _EM["MIPS"] | _64BIT | _LE,
    "SCMP_ARCH_MIPSEL64N32": _EM["MIPS"] | _64BIT | _LE | _N32,
    "SCMP_ARCH_PPC": _EM["PPC"],
    "SCMP_ARCH_PPC64": _EM["PPC64"] | _64BIT,
    "SCMP_ARCH_PPC64LE": _EM["PPC64"] | _64BIT | _LE,
    "SCMP_ARCH_S390": _EM["S390"],
    "SCMP_ARCH_S390X": _EM["S390"] | _64BIT,
    "SCMP_ARCH_PARISC": _EM["PARISC"],
    "SCMP_ARCH_PARISC64": _EM["PARISC"] | _64BIT,
    "SCMP_ARCH_RISCV64": _EM["RISCV"] | _64BIT | _LE,
    "SCMP_ARCH_LOONGARCH64": _EM["LOONGARCH"] | _64BIT | _LE,
    "SCMP_ARCH_M68K": _EM["M68K"],
    "SCMP_ARCH_SH": _EM["SH"] | _LE,
    "SCMP_ARCH_SHEB": _EM["SH"],
}
AUDIT_ARCH_X86_64 = SCMP_ARCHES["SCMP_ARCH_X86_64"]
X32_SYSCALL_BIT = 0x40000000

# The arch names Docker profiles use in includes/excludes (libseccomp-golang's
# spelling) and the libseccomp token of each.
PROFILE_ARCHES: dict[str, str] = {
    "amd64": "SCMP_ARCH_X86_64",
    "x86": "SCMP_ARCH_X86",
    "x32": "SCMP_ARCH_X32",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc": "SCMP_ARCH_PPC",
    "s390x": "SCMP_ARCH_S390X",
    "s390": "SCMP_ARCH_S390",
    "riscv64": "SCMP_ARCH_RISCV64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "mips": "SCMP_ARCH_MIPS",
    "mipsel": "SCMP_ARCH_MIPSEL",
    "mips64": "SCMP_ARCH_MIPS64",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32",
}

# uname(2) machine names (and Go's GOARCH spellings) -> profile arch name.
_MACHINES: dict[str, str] = {
    "x86_64": "amd64",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "386": "x86",
    "aarch64": "arm64", "armv8b": "arm64", "armv8l": "arm",
    "armv6l": "arm", "armv7l": "arm",
    "mips64le": "mipsel64", "mipsle": "mipsel", "loongarch64": "loong64",
}


def profile_arch(machine: str) -> str:
    """The profile arch name for a uname machine, a GOARCH or a profile arch name."""
    name = _MACHINES.get(machine, machine)
    if name not in PROFILE_ARCHES:
        raise ValueError(f"unknown architecture {machine!r}")
    return name


def host_machine() -> str:
    return os.uname().machine

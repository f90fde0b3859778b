"""Seccomp: our default profile against Docker's, conversion, validation, BPF compile.

Compiled programs are checked by running them through a small classic-BPF
interpreter below, the same way the kernel would evaluate them, so the tests
need neither root nor a loaded filter.
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.runtime.seccomp import (
    SeccompError,
    compile_bpf,
    default_profile,
    docker_to_oci,
    filter_flags,
    load_bpf,
)
from dockyard.runtime.seccomp import compile as compile_module
from dockyard.runtime.seccomp.arches import SCMP_ARCHES
from dockyard.runtime.seccomp.enosys import RET_ENOSYS, SOCK_FILTER, enosys_stub

pytestmark = pytest.mark.unit

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
DOCKER_PROFILE = SPECS / "moby-seccomp-default.json"

DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
CAP_SETS = {
    "docker-default": DEFAULT_CAPS,
    "default+SYS_ADMIN": [*DEFAULT_CAPS, "CAP_SYS_ADMIN"],
    "default+SYS_PTRACE": [*DEFAULT_CAPS, "CAP_SYS_PTRACE"],
    "none": [],
    "every-gated-cap": [
        *DEFAULT_CAPS,
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_DAC_READ_SEARCH",
        "CAP_SYS_BOOT",
        "CAP_SYS_MODULE",
        "CAP_SYS_PACCT",
        "CAP_SYS_RAWIO",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_SYS_NICE",
        "CAP_SYSLOG",
        "CAP_BPF",
        "CAP_PERFMON",
    ],
}

X86_64 = SCMP_ARCHES["SCMP_ARCH_X86_64"]
X86 = SCMP_ARCHES["SCMP_ARCH_X86"]
AARCH64 = SCMP_ARCHES["SCMP_ARCH_AARCH64"]
X32_BIT = 0x40000000

ALLOW = 0x7FFF0000
KILL_THREAD = 0x00000000
KILL_PROCESS = 0x80000000
TRAP = 0x00030000
LOG = 0x7FFC0000


def errno_ret(errno: int) -> int:
    return 0x00050000 | errno


EPERM = errno_ret(1)
ENOSYS = errno_ret(38)

# x86_64 syscall numbers.
NR = {
    "read": 0,
    "write": 1,
    "getpid": 39,
    "socket": 41,
    "clone": 56,
    "personality": 135,
    "mount": 165,
    "keyctl": 250,
    "unshare": 272,
    "clone3": 435,
    "ptrace": 101,
    "kcmp": 312,
    "arch_prctl": 158,
}
AF_INET, AF_ALG, AF_VSOCK = 2, 38, 40
CLONE_NEWNS = 0x00020000


# --- a classic BPF interpreter (just the instructions libseccomp emits) ---------------


def run_bpf(program: bytes, nr: int, arch: int = X86_64, args: tuple[int, ...] = ()) -> int:
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args, *[0] * (6 - len(args)))
    insns = [SOCK_FILTER.unpack_from(program, at) for at in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x00:  # ld #k
            acc = k
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x06:  # ret #k
            return k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected BPF opcode {code:#x}")


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_profile() -> dict:
    if not DOCKER_PROFILE.exists():
        pytest.skip(f"Docker's profile is not at {DOCKER_PROFILE} (shared/ beside the clone)")
    return json.loads(DOCKER_PROFILE.read_text())


@pytest.fixture(scope="module")
def default_oci() -> dict:
    return docker_to_oci(default_profile(), DEFAULT_CAPS, "x86_64", (6, 1))


@pytest.fixture(scope="module")
def default_program(default_oci, tmp_path_factory) -> bytes:
    return compile_bpf(default_oci, tmp_path_factory.mktemp("bpf-cache"))


def oci(*syscalls: dict, default: str = "SCMP_ACT_ERRNO", **extra) -> dict:
    return {
        "defaultAction": default,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": list(syscalls),
        **extra,
    }


def rule_set(seccomp: dict) -> set[tuple]:
    """One (name, action, errnoRet, args) entry per name: grouping does not matter."""
    return {
        (
            name,
            syscall["action"],
            syscall.get("errnoRet"),
            tuple(
                (a["index"], a["value"], a.get("valueTwo", 0), a["op"])
                for a in syscall.get("args") or ()
            ),
        )
        for syscall in seccomp["syscalls"]
        for name in syscall["names"]
    }


# --- the default profile against Docker's ---------------------------------------------


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "s390x", "ppc64le", "riscv64", "armv7l"])
@pytest.mark.parametrize("caps", CAP_SETS.values(), ids=CAP_SETS.keys())
@pytest.mark.parametrize("kernel", [(6, 1), (4, 4)], ids=["6.1", "4.4"])
def test_default_profile_allows_and_denies_what_dockers_does(docker_profile, caps, arch, kernel):
    ours = docker_to_oci(default_profile(), caps, arch, kernel)
    theirs = docker_to_oci(docker_profile, caps, arch, kernel)
    assert rule_set(ours) == rule_set(theirs)
    for key in ("defaultAction", "defaultErrnoRet", "architectures"):
        assert ours[key] == theirs[key]


def test_default_profile_is_dockers_shape(docker_profile):
    ours = default_profile()
    assert len(ours["syscalls"]) == len(docker_profile["syscalls"]) == 33
    assert sum(len(g["names"]) for g in ours["syscalls"]) == 442
    assert len(ours["syscalls"][0]["names"]) == 361
    assert ours["archMap"] == docker_profile["archMap"]
    assert json.loads(json.dumps(ours)) == ours


# --- docker_to_oci ----------------------------------------------------------------------


def names_with(seccomp: dict, name: str) -> list[dict]:
    return [s for s in seccomp["syscalls"] if name in s["names"]]


def test_architectures_follow_the_arch_map():
    profile = default_profile()
    assert docker_to_oci(profile, [], "x86_64")["architectures"] == [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
    ]
    assert docker_to_oci(profile, [], "amd64")["architectures"][0] == "SCMP_ARCH_X86_64"
    assert docker_to_oci(profile, [], "aarch64")["architectures"] == [
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ]
    assert docker_to_oci(profile, [], "riscv64")["architectures"] == ["SCMP_ARCH_RISCV64"]
    assert docker_to_oci(profile, [], "ppc64le")["architectures"] == []


def test_clone_is_gated_on_sys_admin(default_oci):
    assert names_with(default_oci, "clone3") == [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]
    (clone,) = names_with(default_oci, "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]
    admin = docker_to_oci(default_profile(), ["sys_admin"], "x86_64", (6, 1))
    assert [s["action"] for s in names_with(admin, "clone3")] == ["SCMP_ACT_ALLOW"]
    assert [s.get("args") for s in names_with(admin, "clone")] == [None]
    s390 = docker_to_oci(default_profile(), [], "s390x", (6, 1))
    assert [s["args"][0]["index"] for s in names_with(s390, "clone")] == [1]


def test_min_kernel_is_compared_with_the_given_kernel():
    old = docker_to_oci(default_profile(), DEFAULT_CAPS, "x86_64", (4, 7))
    new = docker_to_oci(default_profile(), DEFAULT_CAPS, "x86_64", (4, 8))
    assert not names_with(old, "ptrace")
    assert names_with(new, "ptrace")


def test_host_defaults_and_common_fields_pass_through():
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"name": "read", "action": "SCMP_ACT_ALLOW"},
            {"names": ["kexec_load"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "1.0"}},
        ],
    }
    result = docker_to_oci(profile, [])
    assert result == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }


@pytest.mark.parametrize(
    ("profile", "arch", "message"),
    [
        ({"syscalls": []}, "x86_64", "profile.defaultAction: missing"),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x"], "archMap": [{}]},
            "x86_64",
            "profile: has both architectures and archMap; use one",
        ),
        ({"defaultAction": "SCMP_ACT_ERRNO"}, "vax", "arch: unknown architecture 'vax'"),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]},
            "x86_64",
            "profile.syscalls[0].names: missing",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["a"], "includes": {"minKernel": "new"}}],
            },
            "x86_64",
            "profile.syscalls[0].includes.minKernel: invalid kernel version 'new'",
        ),
    ],
)
def test_bad_docker_profiles_are_named(profile, arch, message):
    with pytest.raises(SeccompError) as caught:
        docker_to_oci(profile, [], arch, (6, 1))
    assert str(caught.value) == message


# --- validation -------------------------------------------------------------------------


def bad(syscall: dict) -> dict:
    fine = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    return oci(fine, fine, fine, syscall)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            bad({"names": ["read"], "action": "SCMP_ACT_FOO"}),
            'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"',
        ),
        (bad({"action": "SCMP_ACT_ALLOW"}), "linux.seccomp.syscalls[3].names: missing"),
        (
            bad({"names": [], "action": "SCMP_ACT_ALLOW"}),
            "linux.seccomp.syscalls[3].names: missing",
        ),
        (
            bad(
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                }
            ),
            "linux.seccomp.syscalls[3].args[0].index: must be an integer from 0 to 5, not 6",
        ),
        (
            bad(
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [
                        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                        {"index": 1, "value": 1, "op": "SCMP_CMP_ALMOST"},
                    ],
                }
            ),
            'linux.seccomp.syscalls[3].args[1].op: unknown operator "SCMP_CMP_ALMOST"',
        ),
        (
            bad({"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"value": 1}]}),
            "linux.seccomp.syscalls[3].args[0].index: missing",
        ),
        (
            bad({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}),
            "linux.seccomp.syscalls[3].errnoRet: must be an integer from 0 to 4095, not -1",
        ),
        (
            bad({"names": ["read"], "action": "SCMP_ACT_NOTIFY"}),
            "linux.seccomp.syscalls[3].action: SCMP_ACT_NOTIFY is not supported yet",
        ),
        ({"syscalls": []}, "linux.seccomp.defaultAction: missing"),
        (
            oci(default="SCMP_ACT_ERRNO", defaultErrnoRet="1"),
            "linux.seccomp.defaultErrnoRet: must be an integer from 0 to 4095, not '1'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
            "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_VAX'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}},
            "linux.seccomp.syscalls: must be a list",
        ),
        ([], "linux.seccomp: must be an object"),
    ],
)
def test_bad_oci_seccomp_raises_one_line_naming_the_field(config, message):
    with pytest.raises(SeccompError) as caught:
        compile_bpf(config, None)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_filter_flags():
    flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    assert filter_flags({"flags": flags}) == 2 | 4
    assert filter_flags({}) == 0
    with pytest.raises(SeccompError, match=r"linux.seccomp.flags\[0\]: unknown flag"):
        filter_flags({"flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]})


# --- the compiled default profile ---------------------------------------------------------


def test_default_program_is_a_bpf_filter(default_program):
    count, rest = divmod(len(default_program), 8)
    assert rest == 0
    assert 500 < count <= 4096


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("read", (), ALLOW),
        ("getpid", (), ALLOW),
        ("arch_prctl", (), ALLOW),
        ("unshare", (CLONE_NEWNS,), EPERM),
        ("mount", (), EPERM),
        ("keyctl", (), EPERM),
        ("kcmp", (), EPERM),
        ("ptrace", (), ALLOW),
        ("clone3", (), ENOSYS),
        ("clone", (0x11,), ALLOW),
        ("clone", (CLONE_NEWNS | 0x11,), EPERM),
        ("socket", (AF_INET,), ALLOW),
        ("socket", (AF_ALG,), EPERM),
        ("socket", (AF_ALG + 1,), ALLOW),
        ("socket", (AF_VSOCK,), EPERM),
        ("personality", (0,), ALLOW),
        ("personality", (0xFFFFFFFF,), ALLOW),
        ("personality", (0x0040000,), EPERM),
    ],
)
def test_default_program_decides_like_docker(default_program, name, args, expected):
    assert run_bpf(default_program, NR[name], X86_64, args) == expected


def test_newer_syscalls_get_enosys_older_unknown_ones_eperm(default_program):
    assert run_bpf(default_program, 1000) == ENOSYS
    assert run_bpf(default_program, 0x3FFFFFFF) == ENOSYS
    assert run_bpf(default_program, 180) == EPERM  # nfsservctl: old, never allowed
    assert run_bpf(default_program, 1000, X86) == ENOSYS
    assert run_bpf(default_program, 20, X86) == ALLOW  # i386 getpid
    assert run_bpf(default_program, X32_BIT | 39) == ALLOW  # x32 getpid
    assert run_bpf(default_program, X32_BIT | 1000) == ENOSYS


def test_foreign_arch_is_killed(default_program):
    assert run_bpf(default_program, 0, AARCH64) == KILL_THREAD


def test_aarch64_profile_compiles_for_its_own_arch():
    program = compile_bpf(docker_to_oci(default_profile(), DEFAULT_CAPS, "aarch64", (6, 1)), None)
    assert run_bpf(program, 172, AARCH64) == ALLOW  # getpid
    assert run_bpf(program, 97, AARCH64) == EPERM  # unshare
    assert run_bpf(program, 435, AARCH64) == ENOSYS  # clone3
    assert run_bpf(program, 1000, AARCH64) == ENOSYS


# --- actions and comparisons ------------------------------------------------------------


def test_every_action_maps_to_its_seccomp_return():
    program = compile_bpf(
        oci(
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_KILL"},
            {"names": ["open"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["close"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["stat"], "action": "SCMP_ACT_TRAP"},
            {"names": ["fstat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["lstat"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["poll"], "action": "SCMP_ACT_TRACE"},
            {"names": ["lseek"], "action": "SCMP_ACT_LOG"},
            {"names": ["mmap"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["exit_group"], "action": "SCMP_ACT_ALLOW"},
            default="SCMP_ACT_KILL_PROCESS",
        ),
        None,
    )
    assert [run_bpf(program, nr) for nr in range(10)] == [
        ALLOW,
        KILL_THREAD,
        KILL_THREAD,
        KILL_PROCESS,
        TRAP,
        errno_ret(13),
        0x7FF00007,
        0x7FF00001,
        LOG,
        EPERM,
    ]
    assert run_bpf(program, 39) == KILL_PROCESS  # getpid: unnamed, older than exit_group
    assert run_bpf(program, 1000) == ENOSYS


@pytest.mark.parametrize(
    ("op", "value", "passing", "failing"),
    [
        ("SCMP_CMP_NE", 5, [4, 6, 2**64 - 1], [5]),
        ("SCMP_CMP_LT", 5, [0, 4], [5, 6, 2**40]),
        ("SCMP_CMP_LE", 5, [0, 5], [6, 2**40]),
        ("SCMP_CMP_EQ", 2**33 + 5, [2**33 + 5], [5, 2**33]),
        ("SCMP_CMP_GE", 5, [5, 2**40], [0, 4]),
        ("SCMP_CMP_GT", 5, [6, 2**40], [0, 5]),
    ],
)
def test_comparisons(op, value, passing, failing):
    program = compile_bpf(
        oci(
            {
                "names": ["read"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 2, "value": value, "op": op}],
            }
        ),
        None,
    )
    for arg in passing:
        assert run_bpf(program, 0, args=(0, 0, arg)) == ALLOW, arg
    for arg in failing:
        assert run_bpf(program, 0, args=(0, 0, arg)) == EPERM, arg


def test_masked_eq_uses_value_as_mask_and_value_two_as_datum():
    program = compile_bpf(
        oci(
            {
                "names": ["read"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 0xF0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        ),
        None,
    )
    assert run_bpf(program, 0, args=(0x3F,)) == ALLOW
    assert run_bpf(program, 0, args=(0x40,)) == EPERM


def test_conditions_on_one_argument_are_alternatives_on_different_ones_all_must_hold():
    program = compile_bpf(
        oci(
            {
                "names": ["read"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                ],
            },
            {
                "names": ["write"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                    {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
                ],
            },
        ),
        None,
    )
    assert [run_bpf(program, 0, args=(a,)) for a in (1, 2, 3)] == [ALLOW, ALLOW, EPERM]
    assert run_bpf(program, 1, args=(1, 2)) == ALLOW
    assert run_bpf(program, 1, args=(1, 3)) == EPERM


def test_unknown_syscalls_are_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="dockyard.runtime.seccomp"):
        program = compile_bpf(
            oci({"names": ["no_such_syscall", "getpid"], "action": "SCMP_ACT_ALLOW"}), None
        )
    assert "no_such_syscall" in caplog.text
    assert run_bpf(program, NR["getpid"]) == ALLOW


def test_rules_repeating_the_default_action_are_no_ops():
    program = compile_bpf(
        oci({"names": ["read"], "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_ALLOW"), None
    )
    assert run_bpf(program, 0) == ALLOW
    # A permissive default gets no ENOSYS prologue: unknown syscalls are allowed.
    assert run_bpf(program, 1000) == ALLOW


def test_no_enosys_prologue_when_the_default_already_is_enosys():
    rules = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    enosys = compile_bpf(oci(rules, defaultErrnoRet=38), None)
    eperm = compile_bpf(oci(rules, defaultErrnoRet=1), None)
    assert run_bpf(enosys, 1) == ENOSYS
    assert run_bpf(eperm, 1) == EPERM
    assert len(enosys) < len(eperm)  # same libseccomp filter, minus the prologue


# --- the ENOSYS prologue on its own ---------------------------------------------------------


def with_filter(stub: bytes) -> bytes:
    return stub + SOCK_FILTER.pack(0x06, 0, 0, ALLOW)


def test_enosys_stub_per_arch_and_x32_mode():
    x32 = SCMP_ARCHES["SCMP_ARCH_X32"]
    program = with_filter(enosys_stub({X86_64: 450, x32: X32_BIT | 547, X86: 460}))
    assert run_bpf(program, 450) == ALLOW
    assert run_bpf(program, 451) == RET_ENOSYS
    assert run_bpf(program, X32_BIT | 547) == ALLOW
    assert run_bpf(program, X32_BIT | 548) == RET_ENOSYS
    assert run_bpf(program, 460, X86) == ALLOW
    assert run_bpf(program, 461, X86) == RET_ENOSYS
    assert run_bpf(program, 5000, AARCH64) == ALLOW  # not ours: left to the filter


def test_enosys_stub_without_x32_leaves_x32_calls_to_the_filter():
    program = with_filter(enosys_stub({X86_64: 450}))
    assert run_bpf(program, X32_BIT | 9999) == ALLOW
    assert run_bpf(program, 451) == RET_ENOSYS


def test_enosys_stub_on_s390x_catches_the_multiplexer():
    s390x = SCMP_ARCHES["SCMP_ARCH_S390X"]
    program = with_filter(enosys_stub({s390x: 450}))
    assert run_bpf(program, 0, s390x) == RET_ENOSYS
    assert run_bpf(program, 1, s390x) == ALLOW


# --- cache ----------------------------------------------------------------------------------


def test_cache_hit_returns_the_same_bytes_without_pyseccomp(default_oci, tmp_path, monkeypatch):
    first = compile_bpf(default_oci, tmp_path)
    (cached,) = tmp_path.iterdir()
    assert cached.suffix == ".bpf" and len(cached.stem) == 64
    assert cached.read_bytes() == first
    # Any attempt to import the compiler now fails.
    monkeypatch.setitem(sys.modules, "pyseccomp", None)
    monkeypatch.setitem(sys.modules, "dockyard.runtime.seccomp.build", None)
    assert compile_bpf(default_oci, tmp_path) == first


def test_cache_key_depends_on_rules_and_libseccomp_version(default_oci, tmp_path, monkeypatch):
    compile_bpf(default_oci, tmp_path)
    compile_bpf({**default_oci, "syscalls": default_oci["syscalls"][:3]}, tmp_path)
    # listenerPath and comments do not change the program.
    compile_bpf({**default_oci, "listenerPath": "/run/x.sock"}, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    monkeypatch.setattr(compile_module.libseccomp, "version", lambda: "9.9.9")
    compile_bpf(default_oci, tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_a_torn_cache_file_is_rebuilt(default_oci, default_program, tmp_path):
    compile_bpf(default_oci, tmp_path)
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"torn")
    assert compile_bpf(default_oci, tmp_path) == default_program
    assert cached.read_bytes() == default_program


# --- load_bpf and import hygiene --------------------------------------------------------------


@pytest.mark.parametrize("program", [b"", b"1234567", b"\0" * 8 * 4097])
def test_load_bpf_refuses_non_programs_before_any_syscall(program):
    with pytest.raises(SeccompError, match="not a BPF program"):
        load_bpf(program)


def test_importing_seccomp_is_cheap_and_self_contained():
    code = (
        "import sys\n"
        "from dockyard.runtime.seccomp import compile_bpf, load_bpf, docker_to_oci\n"
        "assert 'pyseccomp' not in sys.modules, 'pyseccomp imported eagerly'\n"
        "outside = [m for m in sys.modules if m.startswith('dockyard.')\n"
        "           and not m.startswith('dockyard.runtime')]\n"
        "assert not outside, outside\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

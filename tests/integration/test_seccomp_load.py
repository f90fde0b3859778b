"""Load the compiled Docker default profile into a real process and probe it.

Each probe runs in a fresh interpreter (a filter cannot be removed once loaded).
The child imports only the loader, as the runtime's container init does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dockyard.runtime.seccomp import compile_bpf, default_profile, docker_to_oci

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="loading seccomp filters is tested as root"),
]

DOCKER_CAPS = [
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
# Syscall numbers the child probes through syscall(2).
NUMBERS = {
    "x86_64": {"keyctl": 250, "clone3": 435, "getpid": 39},
    "aarch64": {"keyctl": 219, "clone3": 435, "getpid": 172},
}
SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = textwrap.dedent(
    """
    import ctypes, errno, json, os, sys
    from dockyard.runtime.seccomp.load import load_bpf

    program_path, no_new_privs, numbers = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
    with open(program_path, "rb") as file:
        program = file.read()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if no_new_privs:
        assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS

    load_bpf(program)

    def outcome(result):
        err = ctypes.get_errno()
        return "ok" if result >= 0 else errno.errorcode.get(err, str(err))

    def call(name, *args):
        ctypes.set_errno(0)
        return outcome(libc.syscall(ctypes.c_long(numbers[name]), *map(ctypes.c_long, args)))

    ctypes.set_errno(0)
    results = {
        "unshare": outcome(libc.unshare(0x00020000)),  # CLONE_NEWNS
        "mount": outcome(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)),
        "keyctl": call("keyctl", 0, 0, 0, 0),  # KEYCTL_GET_KEYRING_ID
        "clone3": call("clone3", 0, 0),
        "beyond": outcome(libc.syscall(ctypes.c_long(1000))),
        "getpid": libc.syscall(ctypes.c_long(numbers["getpid"])) == os.getpid(),
        "write": os.write(2, b"") == 0,
        "seccomp": [
            line.split()[1] for line in open("/proc/self/status") if line.startswith("Seccomp:")
        ][0],
    }
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def numbers() -> dict[str, int]:
    machine = os.uname().machine
    if machine not in NUMBERS:
        pytest.skip(f"no syscall numbers for {machine}")
    return NUMBERS[machine]


@pytest.fixture(scope="module")
def program_file(tmp_path_factory) -> Path:
    program = compile_bpf(docker_to_oci(default_profile(), DOCKER_CAPS), None)
    path = tmp_path_factory.mktemp("seccomp") / "docker-default.bpf"
    path.write_bytes(program)
    return path


def child_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def probe(program_file: Path, numbers: dict[str, int], no_new_privs: bool) -> dict:
    flag = "1" if no_new_privs else "0"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(program_file), flag, json.dumps(numbers)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("no_new_privs", [True, False], ids=["nnp", "root-without-nnp"])
def test_docker_default_profile_in_a_real_process(program_file, numbers, no_new_privs):
    results = probe(program_file, numbers, no_new_privs)
    assert results == {
        "unshare": "EPERM",
        "mount": "EPERM",
        "keyctl": "EPERM",
        "clone3": "ENOSYS",
        "beyond": "ENOSYS",
        "getpid": True,
        "write": True,
        "seccomp": "2",
    }


def test_compile_time_cold_and_cached(tmp_path, capsys):
    """Measured, not asserted: a cold compile in a fresh interpreter vs cache hits."""
    code = textwrap.dedent(
        """
        import sys, time
        t0 = time.perf_counter()
        from dockyard.runtime.seccomp import compile_bpf, default_profile, docker_to_oci
        oci = docker_to_oci(default_profile(), sys.argv[2].split(","))
        t1 = time.perf_counter()
        program = compile_bpf(oci, sys.argv[1])
        t2 = time.perf_counter()
        print(f"{(t1 - t0) * 1000:.2f} {(t2 - t1) * 1000:.2f} {len(program) // 8}"
              f" {len(oci['syscalls'])} {'pyseccomp' in sys.modules}")
        """
    )
    runs = []
    for _ in range(2):  # cold (empty cache), then a cache hit in a fresh interpreter
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path), ",".join(DOCKER_CAPS)],
            capture_output=True,
            text=True,
            env=child_env(),
            check=True,
        ).stdout.split()
        runs.append((out, (time.perf_counter() - start) * 1000))
    oci = docker_to_oci(default_profile(), DOCKER_CAPS)
    compile_bpf(oci, tmp_path)
    start = time.perf_counter()
    for _ in range(100):
        compile_bpf(oci, tmp_path)
    warm = (time.perf_counter() - start) * 10
    (cold, cold_wall), (hit, hit_wall) = runs
    with capsys.disabled():
        print(
            f"\nseccomp compile: cold {cold[1]} ms (pyseccomp imported: {cold[4]}),"
            f" cache hit in a fresh process {hit[1]} ms (pyseccomp imported: {hit[4]}),"
            f" cache hit in a warm process {warm:.3f} ms;"
            f" import+convert {cold[0]} ms; {cold[3]} OCI rules, {cold[2]} BPF instructions;"
            f" child wall {cold_wall:.0f}/{hit_wall:.0f} ms"
        )
    assert hit[4] == "False"

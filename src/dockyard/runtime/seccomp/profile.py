"""Docker's default seccomp profile, generated from our own table.

The profile is an allow list: anything not named here fails with EPERM. Most
syscalls are allowed unconditionally; the rest depend on the container's
capabilities, the CPU architecture or the kernel version, exactly as in
Docker's profile (moby/profiles seccomp/default.json), whose format
``default_profile()`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"

EPERM = 1
ENOSYS = 38

# Socket families that stay blocked: their kernel code has a history of bugs.
AF_ALG = 38
AF_VSOCK = 40

# personality(2) values that only change how a process identifies itself.
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
UNAME26 = 0x0020000
PER_QUERY = 0xFFFFFFFF

# Every CLONE_NEW* flag: clone(2) may not create namespaces without CAP_SYS_ADMIN.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACE_FLAGS = (
    CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
)


@dataclass(frozen=True)
class Rule:
    """One group of the profile.

    ``caps``, ``arches`` and ``min_kernel`` must all hold for the rule to apply;
    any capability in ``unless_caps`` or arch in ``unless_arches`` disables it.
    ``args`` holds (argument index, value, comparison) triples, all of which
    must match.
    """

    names: tuple[str, ...]
    action: str = ALLOW
    errno: int | None = None
    args: tuple[tuple[int, int, str], ...] = ()
    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: str | None = None
    unless_caps: tuple[str, ...] = ()
    unless_arches: tuple[str, ...] = ()
    comment: str = ""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FILES = _words("""
    access faccessat faccessat2 chdir fchdir getcwd umask
    open openat openat2 creat close close_range dup dup2 dup3
    fcntl fcntl64 flock fadvise64 fadvise64_64 fallocate readahead
    stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx
    statfs statfs64 fstatfs fstatfs64 statmount listmount
    chmod fchmod fchmodat fchmodat2 chown chown32 fchown fchown32 fchownat lchown lchown32
    truncate truncate64 ftruncate ftruncate64 lseek _llseek
    getdents getdents64 mkdir mkdirat rmdir mknod mknodat
    link linkat symlink symlinkat readlink readlinkat unlink unlinkat
    rename renameat renameat2 utime utimes futimesat utimensat utimensat_time64
    sync syncfs fsync fdatasync sync_file_range name_to_handle_at cachestat
""")

XATTRS = _words("""
    getxattr lgetxattr fgetxattr getxattrat
    setxattr lsetxattr fsetxattr setxattrat
    listxattr llistxattr flistxattr listxattrat
    removexattr lremovexattr fremovexattr removexattrat
""")

READ_WRITE = _words("""
    read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2
    sendfile sendfile64 splice tee vmsplice copy_file_range ioctl pipe pipe2
""")

ASYNC_IO = _words("""
    io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64
""")

POLLING = _words("""
    select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_wait epoll_wait_old epoll_pwait epoll_pwait2
    eventfd eventfd2 inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
    fanotify_mark
""")

MEMORY = _words("""
    brk mmap mmap2 munmap mremap mprotect madvise mincore msync remap_file_pages
    mlock mlock2 mlockall munlock munlockall mseal map_shadow_stack
    pkey_alloc pkey_free pkey_mprotect memfd_create memfd_secret membarrier
""")

PROCESSES = _words("""
    fork vfork execve execveat exit exit_group wait4 waitid waitpid
    getpid getppid gettid getpgid getpgrp getsid setpgid setsid
    set_tid_address set_robust_list get_robust_list rseq restart_syscall
    get_thread_area set_thread_area prctl capget capset
    getrlimit setrlimit ugetrlimit prlimit64 getrusage times
    getpriority setpriority ioprio_get ioprio_set getcpu
    pidfd_open pidfd_send_signal process_mrelease uname sysinfo getrandom
""")

FUTEXES = _words("""
    futex futex_time64 futex_wait futex_wake futex_requeue futex_waitv
""")

SCHEDULING = _words("""
    sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr
    sched_getparam sched_setparam sched_getscheduler sched_setscheduler
    sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval sched_rr_get_interval_time64
""")

CREDENTIALS = _words("""
    getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32
    getresuid getresuid32 getresgid getresgid32 getgroups getgroups32
    setuid setuid32 setgid setgid32 setreuid setreuid32 setregid setregid32
    setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32 setfsgid setfsgid32
    setgroups setgroups32
""")

SIGNALS = _words("""
    kill tkill tgkill pause alarm sigaltstack sigprocmask sigreturn
    rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigsuspend
    rt_sigqueueinfo rt_tgsigqueueinfo rt_sigtimedwait rt_sigtimedwait_time64
    signalfd signalfd4
""")

TIME = _words("""
    time gettimeofday adjtimex clock_adjtime clock_adjtime64
    clock_gettime clock_gettime64 clock_getres clock_getres_time64
    clock_nanosleep clock_nanosleep_time64 nanosleep getitimer setitimer
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
    timerfd_settime timerfd_settime64
""")

# socket(2) itself is conditional; see SOCKET_FAMILIES below.
SOCKETS = _words("""
    socketpair socketcall bind listen accept accept4 connect shutdown
    getsockname getpeername getsockopt setsockopt
    send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg recvmmsg_time64
""")

IPC = _words("""
    ipc msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl
    shmget shmat shmdt shmctl
    mq_open mq_unlink mq_timedsend mq_timedsend_time64
    mq_timedreceive mq_timedreceive_time64 mq_notify mq_getsetattr
""")

SANDBOXING = _words("""
    seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self
""")

# Arch-specific names that Docker nevertheless lists without an arch condition.
MISC = _words("riscv_hwprobe uretprobe")

ALWAYS_ALLOWED = tuple(
    sorted(
        {
            *FILES,
            *XATTRS,
            *READ_WRITE,
            *ASYNC_IO,
            *POLLING,
            *MEMORY,
            *PROCESSES,
            *FUTEXES,
            *SCHEDULING,
            *CREDENTIALS,
            *SIGNALS,
            *TIME,
            *SOCKETS,
            *IPC,
            *SANDBOXING,
            *MISC,
        }
    )
)

# What CAP_SYS_ADMIN unlocks: namespaces, mounts, tracing and a few host-wide knobs.
SYS_ADMIN = _words("""
    mount umount umount2 mount_setattr move_mount open_tree
    fsopen fsconfig fsmount fspick
    unshare setns clone clone3 sethostname setdomainname
    bpf perf_event_open fanotify_init lookup_dcookie quotactl quotactl_fd syslog
    lsm_get_self_attr lsm_set_self_attr lsm_list_modules
""")

SOCKET_FAMILIES = (
    Rule(("socket",), args=((0, AF_ALG, "SCMP_CMP_LT"),)),
    Rule(("socket",), args=((0, AF_ALG + 1, "SCMP_CMP_EQ"),)),
    Rule(("socket",), args=((0, AF_VSOCK, "SCMP_CMP_GT"),)),
)

PERSONALITIES = tuple(
    Rule(("personality",), args=((0, value, "SCMP_CMP_EQ"),))
    for value in (PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PER_QUERY)
)

ARCH_SPECIFIC = (
    Rule(("sync_file_range2", "swapcontext"), arches=("ppc64le",)),
    Rule(
        _words("""
            arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls
        """),
        arches=("arm", "arm64"),
    ),
    Rule(("arch_prctl",), arches=("amd64", "x32")),
    Rule(("modify_ldt",), arches=("amd64", "x32", "x86")),
    Rule(
        ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
        arches=("s390", "s390x"),
    ),
    Rule(("riscv_flush_icache",), arches=("riscv64",)),
)

CLONE_RULES = (
    Rule(
        ("clone",),
        args=((0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),),
        unless_caps=("CAP_SYS_ADMIN",),
        unless_arches=("s390", "s390x"),
    ),
    Rule(
        ("clone",),
        args=((1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),),
        arches=("s390", "s390x"),
        unless_caps=("CAP_SYS_ADMIN",),
        comment="s390 parameter ordering for clone is different",
    ),
    # clone3 passes its flags in memory, out of seccomp's reach: answer ENOSYS
    # so that libc falls back to clone(2), whose flags the rule above checks.
    Rule(("clone3",), action=ERRNO, errno=ENOSYS, unless_caps=("CAP_SYS_ADMIN",)),
)

# Capability -> syscalls it unlocks (besides CAP_SYS_ADMIN, handled above).
BY_CAPABILITY: dict[str, tuple[str, ...]] = {
    "CAP_SYS_BOOT": ("reboot",),
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_SYS_MODULE": ("delete_module", "init_module", "finit_module"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": _words(
        "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"
    ),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_settime64"),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYS_NICE": _words("get_mempolicy mbind set_mempolicy set_mempolicy_home_node"),
    "CAP_SYSLOG": ("syslog",),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
}


def rules() -> tuple[Rule, ...]:
    """The profile's groups, in Docker's order."""
    return (
        Rule(ALWAYS_ALLOWED),
        # Before 4.8, ptrace could bypass seccomp entirely.
        Rule(("process_vm_readv", "process_vm_writev", "ptrace"), min_kernel="4.8"),
        *SOCKET_FAMILIES,
        *PERSONALITIES,
        *ARCH_SPECIFIC,
        Rule(("open_by_handle_at",), caps=("CAP_DAC_READ_SEARCH",)),
        Rule(tuple(sorted(SYS_ADMIN)), caps=("CAP_SYS_ADMIN",)),
        *CLONE_RULES,
        *(Rule(names, caps=(cap,)) for cap, names in BY_CAPABILITY.items()),
    )


# Native arch -> the compat arches its kernel also runs.
ARCH_MAP: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("SCMP_ARCH_X86_64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("SCMP_ARCH_AARCH64", ("SCMP_ARCH_ARM",)),
    ("SCMP_ARCH_MIPS64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    ("SCMP_ARCH_MIPS64N32", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")),
    ("SCMP_ARCH_MIPSEL64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    ("SCMP_ARCH_MIPSEL64N32", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")),
    ("SCMP_ARCH_S390X", ("SCMP_ARCH_S390",)),
    ("SCMP_ARCH_RISCV64", None),
    ("SCMP_ARCH_LOONGARCH64", None),
)


def _group(rule: Rule) -> dict:
    group: dict = {"names": list(rule.names), "action": rule.action}
    if rule.errno is not None:
        group["errnoRet"] = rule.errno
    if rule.args:
        group["args"] = [
            {"index": index, "value": value, "op": op} for index, value, op in rule.args
        ]
    if rule.comment:
        group["comment"] = rule.comment
    includes: dict = {}
    if rule.caps:
        includes["caps"] = list(rule.caps)
    if rule.arches:
        includes["arches"] = list(rule.arches)
    if rule.min_kernel:
        includes["minKernel"] = rule.min_kernel
    if includes:
        group["includes"] = includes
    excludes: dict = {}
    if rule.unless_caps:
        excludes["caps"] = list(rule.unless_caps)
    if rule.unless_arches:
        excludes["arches"] = list(rule.unless_arches)
    if excludes:
        group["excludes"] = excludes
    return group


def default_profile() -> dict:
    """Docker's default seccomp profile, in Docker's (not OCI's) format."""
    return {
        "defaultAction": ERRNO,
        "defaultErrnoRet": EPERM,
        "archMap": [
            {"architecture": arch, "subArchitectures": list(subs) if subs else None}
            for arch, subs in ARCH_MAP
        ],
        "syscalls": [_group(rule) for rule in rules()],
    }

"""Conversions of the v1-shaped OCI values to cgroup v2 units (pure arithmetic)."""

from __future__ import annotations

from .errors import CgroupError

MIN_SHARES, MAX_SHARES = 2, 262144  # the kernel clamps cpu.shares to this range
MAX_WEIGHT = 10000  # cpu.weight and io.weight are 1..10000


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] to cpu.weight [1, 10000], linearly; 0 stays 0 ("unset").

    This is the mapping of runc 1.1 (Debian's runc): 2 -> 1, 1024 -> 39, 262144 -> 10000.
    Newer opencontainers/cgroups use a log2 quadratic fit instead (1024 -> 100).
    """
    if shares == 0:
        return 0
    if shares <= MIN_SHARES:
        return 1
    if shares >= MAX_SHARES:
        return MAX_WEIGHT
    return 1 + ((shares - MIN_SHARES) * (MAX_WEIGHT - 1)) // (MAX_SHARES - MIN_SHARES)


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] to io.weight [1, 10000], linearly; 0 stays 0 ("unset")."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * (MAX_WEIGHT - 1) // 990


def swap_to_v2(swap: int, memory: int, field: str) -> int:
    """OCI swap is memory+swap (v1 memsw); v2 memory.swap.max is swap alone.

    0 means unset and -1 unlimited, for both inputs and the result.
    """
    if memory == -1 and swap == 0:
        # as with v1: unlimited memory and no explicit swap means unlimited swap too
        return -1
    if swap in (-1, 0) or memory == -1:
        return swap
    if memory == 0:
        raise CgroupError(f"{field}: cannot set a swap limit without a memory limit")
    if swap < memory:
        raise CgroupError(f"{field}: memory+swap ({swap}) must be >= memory.limit ({memory})")
    return swap - memory

"""`dockyardd`: the Engine API daemon, built in the daemon issue."""

from __future__ import annotations

import sys

from dockyard import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["--version"], ["-v"]):
        print(f"dockyardd version {__version__}")
        return 0
    print("dockyardd: the Engine API daemon is not built yet", file=sys.stderr)
    return 1

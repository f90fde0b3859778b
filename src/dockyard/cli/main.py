"""`dockyard`: the docker-compatible CLI. The Engine API client and its commands are
built in the daemon issue; until then this says so instead of pretending."""

from __future__ import annotations

import sys

from dockyard import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["version"], ["--version"], ["-v"]):
        print(f"dockyard version {__version__}")
        return 0
    print("dockyard: the Engine API client is not built yet; use dockyard-runtime for now",
          file=sys.stderr)
    return 1

#!/usr/bin/env bash
# The whole test suite, from nothing: install, then every tier this machine
# supports (unit always; root, compat and slow when running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check
exec .venv/bin/pytest -p no:cacheprovider "$@" tests

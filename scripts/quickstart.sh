#!/usr/bin/env bash
# dockyard's main job, from nothing: install, make a busybox bundle offline, and
# run a container in it with dockyard-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

bundle=$(mktemp -d /tmp/dockyard-quickstart.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
.venv/bin/python -m dockyard.image.bootstrap busybox "$bundle/rootfs"
.venv/bin/dockyard-runtime spec --bundle "$bundle"
.venv/bin/python - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["args"] = ["sh", "-c", "echo hello from a dockyard container: $(hostname), pid $$; id"]
json.dump(config, open(path, "w"), indent=2)
PY
.venv/bin/dockyard-runtime run --bundle "$bundle" "quickstart-$$"

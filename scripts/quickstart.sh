#!/usr/bin/env bash
# dockyard's main job, from nothing: install, start dockyardd, make the busybox image
# offline, seed it into a local registry (Debian's docker-registry), and
# `dockyard run --rm` it, so that the first run goes through the daemon's pull path.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

work=$(mktemp -d /tmp/dockyard-quickstart.XXXXXX)
daemon_pid="" registry_pid=""
had_bridge=1 had_table=1 had_cgroups=1
ip link show dockyard0 >/dev/null 2>&1 || had_bridge=0
nft list table inet dockyard >/dev/null 2>&1 || had_table=0
compgen -G "/sys/fs/cgroup/*/dockyard" >/dev/null || had_cgroups=0
cleanup() {
    status=$?
    set +e
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    # containers the daemon left (live restore) would keep mounts under the data root
    umount -R "$work/data" 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
    # the default network and cgroup parent the daemon made, as dockerd makes docker0: its
    # data root is gone, so they go too, unless they were there before
    [ "$had_bridge" = 0 ] && ip link del dockyard0 2>/dev/null
    [ "$had_table" = 0 ] && nft delete table inet dockyard 2>/dev/null
    [ "$had_cgroups" = 0 ] && rmdir /sys/fs/cgroup/*/dockyard 2>/dev/null
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for DESCRIPTION COMMAND...: poll for up to 20 s
    local what=$1; shift
    for _ in $(seq 200); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "quickstart: $what did not come up; its log:" >&2
    cat "$work"/*.log >&2 || true
    return 1
}

# 1. a local registry on a free port
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
registry="127.0.0.1:$port"
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $registry
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
wait_for "docker-registry" .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://$registry/v2/')"

# 2. busybox made offline (Debian's busybox-static) in a store of its own, pushed there
image="$registry/library/busybox:latest"
.venv/bin/python -m dockyard.image.bootstrap_image --data-root "$work/seed" --tag "$image" >/dev/null
.venv/bin/python - "$work/seed" "$image" "$registry" <<'PY'
import asyncio, sys
from dockyard.distribution.client import RegistryClient
from dockyard.image.push import push
from dockyard.image.store import ImageStore

async def main(root: str, image: str, registry: str) -> None:
    store = ImageStore(root)
    try:
        async with RegistryClient(registry, insecure_registries=[registry]) as client:
            digest = await push(store, image, client)
    finally:
        store.close()
    print(f"seeded {image} ({digest})")

asyncio.run(main(*sys.argv[1:]))
PY

# 3. dockyardd on a socket of its own, with an empty image store
sock="$work/dockyard.sock"
.venv/bin/dockyardd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/run" \
    --insecure-registry "$registry" --live-restore=false >"$work/dockyardd.log" 2>&1 &
daemon_pid=$!
wait_for "dockyardd" .venv/bin/dockyard -H "unix://$sock" version

# 4. the first run: not in the daemon's store, so it is pulled from the registry
.venv/bin/dockyard -H "unix://$sock" run --rm "$registry/library/busybox" echo hello

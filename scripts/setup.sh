#!/usr/bin/env bash
# Installs everything dockyard needs on a fresh Debian 12 machine, as root:
# Debian packages (the peers the tests run against included) and a virtual
# environment in .venv with dockyard installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    python3 python3-venv python3-dev gcc     # the interpreter the runtime starts fast on
    libseccomp2                               # seccomp filters are compiled by libseccomp
    busybox-static                            # offline root filesystems for tests and quickstart
    runc podman skopeo umoci tini             # peers: differential tests and a real engine
    docker-registry apache2-utils openssl     # a registry peer; htpasswd; test token server keys
    docker.io                                 # dockerd + CLI: coexistence tests, bench; the CLI where no 28.x is on PATH
    iproute2 procps util-linux nftables       # ip, ps, nsenter; NAT for container networks
    hyperfine                                 # bench/
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's python3 starts in about 10 ms with -I -S; the runtime CLI is on the
# hot path of every container start, so the venv is built on it.
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
# Byte-compile now: the runtime CLI is a fresh interpreter per command, and some
# environments set PYTHONDONTWRITEBYTECODE, which would recompile it every time.
.venv/bin/python -m compileall -q src >/dev/null

#!/usr/bin/env bash
# Install everything minikube-py needs on a fresh Debian 12 machine (run as root):
# Debian packages for the kernel tools and for building python-prctl, then a virtual
# environment in .venv with the project installed in editable mode.
#   scripts/install.sh          the node and the cluster
#   scripts/install.sh --test   also the test tools (pytest, ruff, mypy, import-linter)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  python3 python3-venv python3-dev gcc libcap-dev   # python-prctl compiles against libcap
  iproute2 nftables busybox-static util-linux        # ip, bridge, nft, busybox, nsenter/unshare
  mmdebstrap sqlite3 curl ca-certificates iputils-ping           # the nginx image, the store, curl for checks
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  /usr/bin/python3 -m venv .venv
fi
# A real image registry (Docker's "distribution", Debian's docker-registry) for the tests and
# the labs to push to and pull from. Only its binary is unpacked into .venv: installing the
# package would also start a registry service on port 5000 of every interface.
if [ ! -x .venv/bin/docker-registry ]; then
  echo "==> docker-registry (unpacked into .venv/registry)"
  work=$(mktemp -d)
  chmod 755 "$work"  # apt downloads as the _apt user
  (cd "$work" && { apt-get download -qq docker-registry 2>/dev/null \
    || { apt-get update -qq && apt-get download -qq docker-registry; }; })
  rm -rf .venv/registry
  dpkg-deb -x "$work"/docker-registry_*.deb .venv/registry
  ln -sf ../registry/usr/bin/docker-registry .venv/bin/docker-registry
  rm -rf "$work"
fi

extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
echo "==> pip install -e .${extra}"
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e ".${extra}"
echo "==> installed: $(.venv/bin/minikube-py --version 2>/dev/null || echo minikube-py)"

#!/usr/bin/env bash
# Installs Redis (the Celery broker/result backend of the cluster profile) from Debian, only if it is missing.
# Idempotent: does nothing when `redis-server` is already on PATH. Needs root (or sudo) for apt-get.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server already installed: $(redis-server --version | head -1)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-redis.sh: need root or sudo to apt-get install redis-server" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends redis-server
# Debian may start the packaged service when an init system is present; the platform starts its own instance
# on 127.0.0.1 (deploy/cluster/cluster.sh), so the packaged one is not needed.
echo "installed: $(redis-server --version | head -1)"

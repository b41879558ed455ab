#!/usr/bin/env bash
# Install moto's stand-alone server (a local EC2 look-alike the aws-ec2 driver tests run
# against) into a virtualenv, once, and print the path of its `moto_server` binary.
#
#   scripts/moto.sh                      # installs if needed, prints the path
#   export ALTO_MOTO_SERVER=$(scripts/moto.sh)
#
# The venv lives at ${ALTO_MOTO_VENV:-$HOME/.cache/altostratus/moto-venv}; the iaas tests look
# there when ALTO_MOTO_SERVER is unset. The version is pinned so that test results do not change
# under us when moto releases; bump MOTO_VERSION deliberately.
set -euo pipefail

MOTO_VERSION="${ALTO_MOTO_VERSION:-5.1.4}"
VENV="${ALTO_MOTO_VENV:-$HOME/.cache/altostratus/moto-venv}"
SERVER="$VENV/bin/moto_server"
STAMP="$VENV/.moto-$MOTO_VERSION"

log() { printf '[moto] %s\n' "$*" >&2; }

if [ -x "$SERVER" ] && [ -f "$STAMP" ]; then
    echo "$SERVER"
    exit 0
fi

PYTHON="${PYTHON:-$(command -v python3 || true)}"
if [ -z "$PYTHON" ]; then
    log "python3 is required (apt-get install python3 python3-venv)"
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
log "installing moto[server]==$MOTO_VERSION"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
if [ ! -x "$SERVER" ]; then
    log "moto installed but $SERVER is missing"
    exit 1
fi
touch "$STAMP"
echo "$SERVER"

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

# shellcheck source=scripts/venv.sh
source "$(dirname "$0")/venv.sh"

MOTO_VERSION="${ALTO_MOTO_VERSION:-5.1.4}"
VENV="${ALTO_MOTO_VENV:-$HOME/.cache/altostratus/moto-venv}"
SERVER="$VENV/bin/moto_server"

ensure_venv "$VENV" "moto[server]==$MOTO_VERSION" moto
if [ ! -x "$SERVER" ]; then
    printf '[moto] moto installed but %s is missing\n' "$SERVER" >&2
    exit 1
fi
echo "$SERVER"

#!/usr/bin/env bash
# Install selenium (the maintained WebDriver client the console's browser test drives Debian's
# chromium-driver with) into a virtualenv, once, and print the path of its python.
#
#   scripts/selenium.sh                      # installs if needed, prints the path
#   export ALTO_SELENIUM_PYTHON=$(scripts/selenium.sh)
#
# The venv lives at ${ALTO_SELENIUM_VENV:-$HOME/.cache/altostratus/selenium-venv}. The version
# is pinned so that the test does not change under us; bump SELENIUM_VERSION deliberately.
set -euo pipefail

SELENIUM_VERSION="${ALTO_SELENIUM_VERSION:-4.25.0}"
VENV="${ALTO_SELENIUM_VENV:-$HOME/.cache/altostratus/selenium-venv}"
STAMP="$VENV/.selenium-$SELENIUM_VERSION"

log() { printf '[selenium] %s\n' "$*" >&2; }

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ]; then
    echo "$VENV/bin/python"
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
log "installing selenium==$SELENIUM_VERSION"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "selenium==$SELENIUM_VERSION" >&2
touch "$STAMP"
echo "$VENV/bin/python"

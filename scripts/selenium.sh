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

# shellcheck source=scripts/venv.sh
source "$(dirname "$0")/venv.sh"

SELENIUM_VERSION="${ALTO_SELENIUM_VERSION:-4.25.0}"
VENV="${ALTO_SELENIUM_VENV:-$HOME/.cache/altostratus/selenium-venv}"

ensure_venv "$VENV" "selenium==$SELENIUM_VERSION" selenium
echo "$VENV/bin/python"

#!/usr/bin/env bash
# The Python 2.7 virtualenv the unmodified Stratos 4.1.0 cartridge agent
# (../shared/stratos-agent-4.1.0/) runs in for tests/tests/stratos_agent.rs: pyenv's 2.7.18
# (installed with `pyenv install 2.7.18` when absent), virtualenv, and the agent's imports
# from PyPI at versions that still support Python 2.7. Prints the venv's python.
#
#   export ALTO_STRATOS_PYTHON=$(scripts/stratos-agent.sh)
#
# The venv lives at ${ALTO_STRATOS_VENV:-$HOME/.cache/altostratus/stratos-agent-venv}.
set -euo pipefail

VENV="${ALTO_STRATOS_VENV:-$HOME/.cache/altostratus/stratos-agent-venv}"
# paho-mqtt 1.x keeps the Client() signature the agent calls; psutil 5.9 is the last line
# for Python 2.7; pycryptodome replaces pycrypto (which no longer builds) under the same
# `Crypto` package; GitPython 2.1.15 is the last for Python 2.
REQUIREMENTS=(paho-mqtt==1.5.1 psutil==5.9.8 pexpect==4.8.0 pycryptodome==3.18.0
    GitPython==2.1.15 yapsy==1.12.2)
STAMP="$VENV/.installed-$(printf '%s_' "${REQUIREMENTS[@]}" | tr -c 'A-Za-z0-9._=-' _)"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ]; then
    echo "$VENV/bin/python"
    exit 0
fi

PYENV="${PYENV_ROOT:-$HOME/.pyenv}"
PYTHON27="$PYENV/versions/2.7.18/bin/python"
if [ ! -x "$PYTHON27" ]; then
    if ! command -v pyenv >/dev/null && [ ! -x "$PYENV/bin/pyenv" ]; then
        printf '[stratos-agent] neither Python 2.7.18 nor pyenv to install it\n' >&2
        exit 1
    fi
    printf '[stratos-agent] pyenv install 2.7.18\n' >&2
    "$(command -v pyenv || echo "$PYENV/bin/pyenv")" install -s 2.7.18 >&2
fi
if [ ! -x "$VENV/bin/python" ]; then
    printf '[stratos-agent] creating virtualenv %s\n' "$VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    # The last virtualenv that can create Python 2.7 environments.
    "$PYTHON27" -m pip install --quiet --disable-pip-version-check "virtualenv==20.15.1" >&2
    "$PYTHON27" -m virtualenv --quiet "$VENV" >&2
fi
printf '[stratos-agent] installing %s\n' "${REQUIREMENTS[*]}" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" >&2
touch "$STAMP"
echo "$VENV/bin/python"

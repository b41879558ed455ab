# Sourced by the scripts that need a Python tool from PyPI (moto.sh, selenium.sh,
# schemathesis.sh): one way to make a pinned virtualenv, once, and reuse it.
#
#   ensure_venv DIR REQUIREMENT TAG     # e.g. ensure_venv "$VENV" "moto[server]==5.1.4" moto
#
# DIR is created with python3's venv module if absent; REQUIREMENT is pip-installed unless the
# stamp DIR/.TAG-installed-REQUIREMENT says it already is. Progress goes to stderr, so callers
# can print the path they export on stdout.

ensure_venv() {
    local venv="$1" requirement="$2" tag="$3"
    local stamp="$venv/.$tag-installed-${requirement//[^A-Za-z0-9.=_-]/_}"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ]; then
        return 0
    fi
    local python="${PYTHON:-$(command -v python3 || true)}"
    if [ -z "$python" ]; then
        printf '[%s] python3 is required (apt-get install python3 python3-venv)\n' "$tag" >&2
        return 1
    fi
    if [ ! -x "$venv/bin/python" ]; then
        printf '[%s] creating virtualenv %s\n' "$tag" "$venv" >&2
        mkdir -p "$(dirname "$venv")"
        "$python" -m venv "$venv"
    fi
    printf '[%s] installing %s\n' "$tag" "$requirement" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement" >&2
    touch "$stamp"
}

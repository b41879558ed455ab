#!/usr/bin/env bash
# Fetch Apache Libcloud's source distribution from PyPI (once) and print the root of its
# recorded compute API responses (…/libcloud/test/compute/fixtures). The iaas crate's
# nova_*/cloudstack_* tests serve those responses from a local stub; nothing recorded is
# committed to this repository.
#
#   export ALTO_LIBCLOUD_FIXTURES="$(scripts/libcloud-fixtures.sh)"
#
# Cache: ${ALTO_LIBCLOUD_DIR:-$HOME/.cache/altostratus/libcloud}. Safe to run again and again.
set -euo pipefail

version="${ALTO_LIBCLOUD_VERSION:-3.8.0}"
cache="${ALTO_LIBCLOUD_DIR:-$HOME/.cache/altostratus/libcloud}"
root="$cache/apache-libcloud-$version/libcloud/test/compute/fixtures"

if [ -f "$root/cloudstack/listZones_default.json" ] && [ -f "$root/openstack/_v3__auth.json" ]; then
    echo "$root"
    exit 0
fi

mkdir -p "$cache"
sdist="$cache/apache-libcloud-$version.tar.gz"
if [ ! -f "$sdist" ]; then
    pip="$(command -v pip3 || command -v pip || true)"
    if [ -z "$pip" ]; then
        echo "libcloud-fixtures: pip is needed to download apache-libcloud==$version" >&2
        exit 1
    fi
    # The source distribution (not the wheel): only it carries libcloud/test. pip prepares its
    # metadata in an isolated build environment (it fetches setuptools from PyPI for that).
    "$pip" download --quiet --no-deps --no-binary :all: \
        --dest "$cache" "apache-libcloud==$version" >&2
fi
# Extract into a temporary directory and rename, so an interrupted run leaves nothing half done.
tmp="$(mktemp -d "$cache/extract.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$sdist" -C "$tmp" "apache-libcloud-$version/libcloud/test/compute/fixtures"
rm -rf "$cache/apache-libcloud-$version"
mv "$tmp/apache-libcloud-$version" "$cache/apache-libcloud-$version"
echo "$root"

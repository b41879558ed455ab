#!/usr/bin/env bash
# Debian's Thrift compiler, for the test that the committed Rust of
# cloud-controller/thrift/databridge.thrift is what the IDL gives (and to regenerate it).
set -euo pipefail
if ! command -v thrift >/dev/null; then
    printf '[thrift] installing thrift-compiler\n' >&2
    apt-get install -y -q thrift-compiler >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q thrift-compiler >/dev/null; }
fi
thrift --version >&2

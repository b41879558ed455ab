#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests of every crate, the registry suite on
# SQLite and PostgreSQL, and the end-to-end tests that drive the real `alto` binary.
# Installs and starts what it needs (PostgreSQL, RabbitMQ with its MQTT plugin, Libcloud's
# recorded cloud responses, moto and schemathesis virtualenvs, Chromium and a selenium virtualenv)
# when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
source scripts/services.sh
ensure_build_libraries
ensure_postgres
ensure_rabbitmq
ensure_rabbitmq_cluster
ensure_promtool
# Apache Libcloud's recorded Nova/CloudStack responses (downloaded from PyPI, never committed).
ALTO_LIBCLOUD_FIXTURES="$(scripts/libcloud-fixtures.sh)"
export ALTO_LIBCLOUD_FIXTURES
# moto's EC2 server in a virtualenv from PyPI (the aws-ec2 tests start their own instances of it).
ALTO_MOTO_SERVER="$(scripts/moto.sh)"
export ALTO_MOTO_SERVER
# The web console's browser test: Debian's chromium and chromium-driver, selenium from PyPI.
ensure_chromium
ALTO_SELENIUM_PYTHON="$(scripts/selenium.sh)"
export ALTO_SELENIUM_PYTHON
# The unmodified Stratos 4.1.0 Python agent: pyenv's Python 2.7.18 and a virtualenv from PyPI;
# the Thrift compiler for the data bridge's generated code.
ALTO_STRATOS_PYTHON="$(scripts/stratos-agent.sh)"
export ALTO_STRATOS_PYTHON
scripts/thrift-compiler.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== build (the e2e tests run the real binary)"
cargo build --workspace --bins
echo "== schemathesis (the REST API against its OpenAPI document)"
scripts/schemathesis.sh
echo "== fuzz (scripts/fuzz.sh in the background, beside the tests; log in target/fuzz.log)"
mkdir -p target
scripts/fuzz.sh >target/fuzz.log 2>&1 &
FUZZ_PID=$!
echo "== tests"
cargo test --workspace --no-fail-fast
if ! wait "$FUZZ_PID"; then
    cat target/fuzz.log
    echo "fuzzing found a crash (or could not run): see above" >&2
    exit 1
fi
tail -n 3 target/fuzz.log

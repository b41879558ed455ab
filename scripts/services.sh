#!/usr/bin/env bash
# Install (when absent) and start the services the tests talk to. Sourced by scripts/test.sh;
# safe to run again and again.
set -euo pipefail

PG_URL_BASE="postgres://postgres@127.0.0.1:5432"

log() { printf '[services] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    log "installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ok() { psql "$PG_URL_BASE/postgres" -qtAc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql postgresql-client
    fi
    if ! pg_ok; then
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        log "starting PostgreSQL $version"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 50); do
            pg_isready -h 127.0.0.1 -p 5432 -q && break
            sleep 0.2
        done
        if ! pg_ok; then
            # A stock Debian cluster wants a password over TCP; the tests use trust on loopback.
            local hba="/etc/postgresql/$version/main/pg_hba.conf"
            log "enabling trust authentication for 127.0.0.1 in $hba"
            as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
            sleep 1
        fi
    fi
    pg_ok || { log "PostgreSQL is not reachable at $PG_URL_BASE"; return 1; }
    if [ "$(psql "$PG_URL_BASE/postgres" -qtAc "select 1 from pg_database where datname='test'")" != "1" ]; then
        psql "$PG_URL_BASE/postgres" -qc 'create database test'
    fi
    export ALTO_TEST_POSTGRES_URL="$PG_URL_BASE/test"
    log "PostgreSQL ready at $ALTO_TEST_POSTGRES_URL"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ensure_postgres
fi

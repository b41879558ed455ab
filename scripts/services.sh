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

AMQP_URL_DEFAULT="amqp://guest:guest@127.0.0.1:5672/%2f"
# RabbitMQ's MQTT plugin listens here (1883 is often taken by Mosquitto).
MQTT_PORT=1884
# RabbitMQ's second MQTT listener, mapped to a virtual host of its own (anonymous agents).
MQTT_ANONYMOUS_PORT=1885
MQTT_ANONYMOUS_VHOST=alto-anonymous
RABBIT_CONF=/etc/rabbitmq/rabbitmq.conf

rabbit_ok() { rabbitmqctl -q await_startup >/dev/null 2>&1 && rabbitmqctl -q status >/dev/null 2>&1; }

start_rabbit() {
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do
        rabbitmqctl -q await_startup >/dev/null 2>&1 && return 0
        sleep 1
    done
    log "RabbitMQ did not start"; return 1
}

ensure_rabbitmq() {
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        apt_install rabbitmq-server
    fi
    # The MQTT plugin, on loopback port $MQTT_PORT (a config change needs a broker restart,
    # done once).
    local restart=0
    if ! grep -q "^mqtt.listeners.tcp" "$RABBIT_CONF" 2>/dev/null; then
        log "configuring the MQTT plugin on 127.0.0.1:$MQTT_PORT in $RABBIT_CONF"
        printf 'mqtt.listeners.tcp.1 = 127.0.0.1:%s\nmqtt.allow_anonymous = true\n' "$MQTT_PORT" \
            | as_root tee -a "$RABBIT_CONF" >/dev/null
        restart=1
    fi
    # A second MQTT listener whose clients (anonymous ones too) land in the virtual host
    # $MQTT_ANONYMOUS_VHOST, never in the platform's: where the unmodified Stratos 4.1.0 agent
    # connects (alto --anonymous-mqtt-vhost; docs/SECURITY.md).
    if ! grep -q "^mqtt.listeners.tcp.2" "$RABBIT_CONF" 2>/dev/null; then
        log "configuring the anonymous MQTT listener on 127.0.0.1:$MQTT_ANONYMOUS_PORT"
        printf 'mqtt.listeners.tcp.2 = 127.0.0.1:%s\n' "$MQTT_ANONYMOUS_PORT" \
            | as_root tee -a "$RABBIT_CONF" >/dev/null
        restart=1
    fi
    # MQTT for agents; management for the tenants' virtual hosts and users (alto serve
    # --bus-separation vhost, the default).
    local plugin
    for plugin in rabbitmq_mqtt rabbitmq_management; do
        if ! grep -q "$plugin" /etc/rabbitmq/enabled_plugins 2>/dev/null; then
            as_root rabbitmq-plugins enable --offline "$plugin" >/dev/null
            restart=1
        fi
    done
    if [ "$restart" = 1 ] && rabbit_ok; then
        log "restarting RabbitMQ for the MQTT plugin"
        as_root rabbitmqctl -q stop >/dev/null 2>&1 || true
        sleep 1
    fi
    rabbit_ok || start_rabbit
    # Tests give each run's tenants virtual hosts and users named after their queue prefix
    # (e2e-...): an earlier run's are gone before this one starts.
    local name
    for name in $(rabbitmqctl -q list_vhosts name 2>/dev/null | grep '^e2e-' || true); do
        rabbitmqctl -q delete_vhost "$name" >/dev/null 2>&1 || true
    done
    for name in $(rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep '^e2e-' || true); do
        rabbitmqctl -q delete_user "$name" >/dev/null 2>&1 || true
    done
    rabbitmqctl -q add_vhost "$MQTT_ANONYMOUS_VHOST" >/dev/null 2>&1 || true
    # Earlier runs' controllers left their durable queues in the shared anonymous vhost.
    for name in $(rabbitmqctl -q list_queues -p "$MQTT_ANONYMOUS_VHOST" name 2>/dev/null | grep '^e2e-' || true); do
        rabbitmqctl -q delete_queue -p "$MQTT_ANONYMOUS_VHOST" "$name" >/dev/null 2>&1 || true
    done
    rabbitmqctl -q set_permissions -p "$MQTT_ANONYMOUS_VHOST" guest '.*' '.*' '.*' >/dev/null
    rabbitmqctl -q set_global_parameter mqtt_port_to_vhost_mapping \
        "{\"$MQTT_ANONYMOUS_PORT\": \"$MQTT_ANONYMOUS_VHOST\"}" >/dev/null
    export ALTO_TEST_MQTT_ANONYMOUS_PORT="$MQTT_ANONYMOUS_PORT"
    export ALTO_TEST_MQTT_ANONYMOUS_VHOST="$MQTT_ANONYMOUS_VHOST"
    export ALTO_TEST_AMQP_URL="${ALTO_TEST_AMQP_URL:-$AMQP_URL_DEFAULT}"
    export ALTO_TEST_MQTT_PORT="$MQTT_PORT"
    for _ in $(seq 1 30); do
        curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && break
        sleep 1
    done
    curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null \
        || { log "RabbitMQ's management API is not answering on 127.0.0.1:15672"; return 1; }
    log "RabbitMQ ready at 127.0.0.1:5672 (MQTT on $MQTT_PORT, management on 15672)"
}

# A three-node RabbitMQ cluster beside the single broker above (which it leaves alone): the
# broker-cluster test and bench (docs/BROKER_CLUSTER.md). Each node has its own name, ports,
# database, logs, config file and plugins file; they share the rabbitmq user's Erlang cookie
# (rabbitmq-server runs as that user even when started as root). Nodes already running from an
# earlier run are reused.
RABBIT_CLUSTER_NODES=3
RABBIT_CLUSTER_AMQP_BASE=5680
RABBIT_CLUSTER_DIST_BASE=25680
RABBIT_CLUSTER_MANAGEMENT_BASE=15680
RABBIT_CLUSTER_DIR=/var/lib/rabbitmq/alto-cluster

rabbit_cluster_node() { printf 'alto-c%s@localhost' "$1"; }

rabbit_cluster_running_nodes() {
    rabbitmqctl -q -n "$(rabbit_cluster_node 1)" eval \
        'length(rabbit_nodes:all_running()).' 2>/dev/null || echo 0
}

start_rabbit_cluster_node() {
    local i=$1 dir="$RABBIT_CLUSTER_DIR/c$1"
    as_root mkdir -p "$dir/mnesia" "$dir/log"
    printf '%s\n' \
        "listeners.tcp.1 = 127.0.0.1:$((RABBIT_CLUSTER_AMQP_BASE + i))" \
        "management.tcp.ip = 127.0.0.1" \
        "management.tcp.port = $((RABBIT_CLUSTER_MANAGEMENT_BASE + i))" \
        | as_root tee "$dir/rabbitmq.conf" >/dev/null
    echo '[rabbitmq_management,rabbitmq_consistent_hash_exchange].' \
        | as_root tee "$dir/enabled_plugins" >/dev/null
    as_root chown -R rabbitmq:rabbitmq "$dir"
    log "starting RabbitMQ node $(rabbit_cluster_node "$i") on 127.0.0.1:$((RABBIT_CLUSTER_AMQP_BASE + i))"
    as_root env \
        RABBITMQ_NODENAME="$(rabbit_cluster_node "$i")" \
        RABBITMQ_NODE_PORT=$((RABBIT_CLUSTER_AMQP_BASE + i)) \
        RABBITMQ_DIST_PORT=$((RABBIT_CLUSTER_DIST_BASE + i)) \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" \
        RABBITMQ_LOG_BASE="$dir/log" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        rabbitmq-server -detached >/dev/null 2>&1 || true
}

ensure_rabbitmq_cluster() {
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        apt_install rabbitmq-server
    fi
    local i node
    for i in $(seq 1 "$RABBIT_CLUSTER_NODES"); do
        node=$(rabbit_cluster_node "$i")
        rabbitmqctl -q -n "$node" status >/dev/null 2>&1 || start_rabbit_cluster_node "$i"
    done
    for i in $(seq 1 "$RABBIT_CLUSTER_NODES"); do
        node=$(rabbit_cluster_node "$i")
        rabbitmqctl -q -n "$node" await_startup --timeout 60 >/dev/null 2>&1 \
            || { log "RabbitMQ node $node did not start (logs in $RABBIT_CLUSTER_DIR/c$i/log)"; return 1; }
    done
    # A node stopped with stop_app by an interrupted test run is started again.
    for i in $(seq 1 "$RABBIT_CLUSTER_NODES"); do
        rabbitmqctl -q -n "$(rabbit_cluster_node "$i")" start_app >/dev/null 2>&1 || true
    done
    if [ "$(rabbit_cluster_running_nodes)" != "$RABBIT_CLUSTER_NODES" ]; then
        for i in $(seq 2 "$RABBIT_CLUSTER_NODES"); do
            node=$(rabbit_cluster_node "$i")
            if ! rabbitmqctl -q -n "$node" cluster_status 2>/dev/null | grep -q "$(rabbit_cluster_node 1)"; then
                log "joining $node to $(rabbit_cluster_node 1)"
                rabbitmqctl -q -n "$node" stop_app >/dev/null 2>&1
                rabbitmqctl -q -n "$node" reset >/dev/null 2>&1
                rabbitmqctl -q -n "$node" join_cluster "$(rabbit_cluster_node 1)" >/dev/null 2>&1
                rabbitmqctl -q -n "$node" start_app >/dev/null 2>&1
            fi
        done
    fi
    if [ "$(rabbit_cluster_running_nodes)" != "$RABBIT_CLUSTER_NODES" ]; then
        log "the RabbitMQ cluster has $(rabbit_cluster_running_nodes) of $RABBIT_CLUSTER_NODES nodes running"
        return 1
    fi
    # Earlier runs' durable (quorum) queues.
    local name
    for name in $(rabbitmqctl -q -n "$(rabbit_cluster_node 1)" list_queues name 2>/dev/null | grep '^e2e-' || true); do
        rabbitmqctl -q -n "$(rabbit_cluster_node 1)" delete_queue "$name" >/dev/null 2>&1 || true
    done
    local urls=() nodes=()
    for i in $(seq 1 "$RABBIT_CLUSTER_NODES"); do
        urls+=("amqp://guest:guest@127.0.0.1:$((RABBIT_CLUSTER_AMQP_BASE + i))/%2f")
        nodes+=("$(rabbit_cluster_node "$i")")
    done
    ALTO_TEST_AMQP_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
    ALTO_TEST_AMQP_CLUSTER_NODES=$(IFS=,; echo "${nodes[*]}")
    export ALTO_TEST_AMQP_CLUSTER_URLS ALTO_TEST_AMQP_CLUSTER_NODES
    ALTO_TEST_AMQP_CLUSTER_MANAGEMENT_URLS=$(for i in $(seq 1 "$RABBIT_CLUSTER_NODES"); do
        printf 'http://127.0.0.1:%s\n' $((RABBIT_CLUSTER_MANAGEMENT_BASE + i))
    done | paste -sd,)
    export ALTO_TEST_AMQP_CLUSTER_MANAGEMENT_URLS
    log "RabbitMQ cluster ready: ${nodes[*]} on AMQP ports $((RABBIT_CLUSTER_AMQP_BASE + 1))-$((RABBIT_CLUSTER_AMQP_BASE + RABBIT_CLUSTER_NODES))"
}

# The C libraries the build links: OpenSSL (the Thrift receiver's TLS 1.0 for Stratos agents).
ensure_build_libraries() {
    if ! dpkg -s libssl-dev pkg-config >/dev/null 2>&1; then
        apt_install libssl-dev pkg-config
    fi
}

# promtool (Debian's prometheus package) checks the exposition of GET /metrics in the e2e tests.
ensure_promtool() {
    if ! command -v promtool >/dev/null 2>&1; then
        apt_install prometheus
    fi
    command -v promtool >/dev/null 2>&1 || { log "promtool is not installed"; return 1; }
    log "promtool ready ($(command -v promtool))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ensure_postgres
    ensure_rabbitmq
fi

# Debian's Chromium and its WebDriver, for the web console's browser test (tests/tests/console.rs).
ensure_chromium() {
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        apt_install chromium chromium-driver
    fi
    log "Chromium ready: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
}

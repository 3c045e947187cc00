#!/usr/bin/env bash
# Install (if missing), start, check and stop the servers the tests talk to:
# two Redis shards, a Redis master/replica pair watched by a Sentinel, and RabbitMQ.
# Everything listens on 127.0.0.1 on project-specific ports with state under
# .state/, so it never collides with a system Redis or RabbitMQ.
#
#   scripts/services.sh start    install what is missing, start what is not running
#   scripts/services.sh stop     stop what this script started (by pid file)
#   scripts/services.sh status   print what answers
#   scripts/services.sh env      print the environment variables the tests read
#
# With CI=true a server that cannot be installed or started is an error (exit 1).
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${SERVICES_STATE_DIR:-$ROOT/.state}"
REDIS_PORTS=(16379 16380)          # two shards for the sharding tests
SENTINEL_MASTER_PORT=16381
SENTINEL_REPLICA_PORT=16382
SENTINEL_PORT=16390
RABBIT_PORT=5673
RABBIT_DIST_PORT=25673
RABBIT_NODE="channels_test@localhost"

log() { echo "services: $*" >&2; }

# A unix socket path must fit in 107 bytes; deep checkouts use /tmp instead.
redis_socket() {
    local path="$STATE/redis-$1.sock"
    if [ "${#path}" -gt 100 ]; then path="/tmp/channels-test-redis-$1.sock"; fi
    echo "$path"
}
fail() {
    log "$*"
    if [ "${CI:-}" = "true" ]; then exit 1; fi
}

print_env() {
    echo "export ASGI_REDIS_URL=redis://127.0.0.1:${REDIS_PORTS[0]}/0"
    echo "export ASGI_REDIS_URL_2=redis://127.0.0.1:${REDIS_PORTS[1]}/0"
    # The same server as ASGI_REDIS_URL, over its unix socket (one-machine deployments).
    echo "export ASGI_REDIS_UNIX_URL=unix://$(redis_socket "${REDIS_PORTS[0]}")?db=0"
    echo "export ASGI_REDIS_SENTINEL=127.0.0.1:$SENTINEL_PORT"
    echo "export ASGI_REDIS_SENTINEL_SERVICE=channels-test"
    echo "export ASGI_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$RABBIT_PORT/%2F"
    echo "export ASGI_RABBITMQ_CTL_NODE=$RABBIT_NODE"
    echo "export ASGI_SERVICES_STATE=$STATE"
}

install_missing() {
    local need=()
    command -v redis-server >/dev/null || need+=(redis-server)
    command -v redis-sentinel >/dev/null || need+=(redis-sentinel)
    command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        fail "missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root"
        return 0
    fi
    log "installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null \
        || fail "apt-get install ${need[*]} failed"
    # Debian's post-install scripts may start the system services; we use our own.
    pkill -f '^/usr/bin/redis-server 127.0.0.1:6379' 2>/dev/null || true
}

redis_ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

start_redis() {  # port [extra args...]
    local port=$1; shift
    redis_ping "$port" && return 0
    mkdir -p "$STATE/redis-$port"
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
        --dir "$STATE/redis-$port" --pidfile "$STATE/redis-$port.pid" \
        --logfile "$STATE/redis-$port.log" --save "" --appendonly no \
        --unixsocket "$(redis_socket "$port")" --unixsocketperm 700 "$@" >/dev/null
}

start_sentinel() {
    redis_ping "$SENTINEL_PORT" && return 0
    mkdir -p "$STATE/sentinel"
    cat >"$STATE/sentinel/sentinel.conf" <<EOF
bind 127.0.0.1
port $SENTINEL_PORT
daemonize yes
pidfile $STATE/sentinel.pid
logfile $STATE/sentinel.log
dir $STATE/sentinel
sentinel monitor channels-test 127.0.0.1 $SENTINEL_MASTER_PORT 1
sentinel down-after-milliseconds channels-test 1000
sentinel failover-timeout channels-test 5000
EOF
    redis-sentinel "$STATE/sentinel/sentinel.conf" >/dev/null
}

rabbit_env() {
    export RABBITMQ_NODENAME="$RABBIT_NODE"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$RABBIT_PORT
    export RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
    export RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia"
    export RABBITMQ_LOG_BASE="$STATE/rabbitmq/log"
    export RABBITMQ_PID_FILE="$STATE/rabbitmq.pid"
    export RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins"
    export ERL_EPMD_ADDRESS=127.0.0.1
    # Stop the Erlang schedulers busy-waiting: on a 2-core machine they steal the CPU from tests.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
    export HOME="$STATE/rabbitmq"
}

rabbit_ping() { (rabbit_env; rabbitmqctl -q -n "$RABBIT_NODE" status >/dev/null 2>&1); }

start_rabbit() {
    command -v rabbitmq-server >/dev/null || return 0
    rabbit_ping && return 0
    mkdir -p "$STATE/rabbitmq/log" "$STATE/rabbitmq/mnesia"
    printf '[].\n' >"$STATE/rabbitmq/enabled_plugins"
    rm -f "$STATE/rabbitmq/log/"*.log "$STATE/rabbitmq/log/erl_crash.dump"
    cat >"$STATE/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
loopback_users = none
vm_memory_high_watermark.relative = 0.2
disk_free_limit.absolute = 50MB
EOF
    # Debian's wrapper drops root privileges to the rabbitmq user, which must own the state.
    if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
        chown -R rabbitmq:rabbitmq "$STATE/rabbitmq"
    fi
    (rabbit_env; nohup rabbitmq-server >"$STATE/rabbitmq/server.out" 2>&1 &
     echo $! >"$STATE/rabbitmq.launcher.pid")
}

wait_for() {  # name seconds command...
    local name=$1 seconds=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then fail "$name did not answer within ${seconds}s"; return 1; fi
        sleep 0.5
    done
}

start() {
    mkdir -p "$STATE"
    install_missing
    if command -v redis-server >/dev/null; then
        for port in "${REDIS_PORTS[@]}"; do start_redis "$port"; done
        start_redis "$SENTINEL_MASTER_PORT"
        start_redis "$SENTINEL_REPLICA_PORT" --replicaof 127.0.0.1 "$SENTINEL_MASTER_PORT"
        start_sentinel
    else
        fail "redis-server is not installed"
    fi
    start_rabbit
    for port in "${REDIS_PORTS[@]}" "$SENTINEL_MASTER_PORT" "$SENTINEL_REPLICA_PORT" "$SENTINEL_PORT"; do
        wait_for "redis on $port" 20 redis_ping "$port" || true
    done
    if command -v rabbitmq-server >/dev/null; then
        wait_for "rabbitmq on $RABBIT_PORT" 120 rabbit_ping || true
    else
        fail "rabbitmq-server is not installed"
    fi
    status
}

stop_pidfile() {
    local file=$1
    [ -f "$file" ] || return 0
    local pid; pid=$(cat "$file")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop() {
    if [ -f "$STATE/rabbitmq.launcher.pid" ]; then
        (rabbit_env; rabbitmqctl -q -n "$RABBIT_NODE" stop >/dev/null 2>&1) || true
        stop_pidfile "$STATE/rabbitmq.pid"
        stop_pidfile "$STATE/rabbitmq.launcher.pid"
    fi
    stop_pidfile "$STATE/sentinel.pid"
    for port in "${REDIS_PORTS[@]}" "$SENTINEL_MASTER_PORT" "$SENTINEL_REPLICA_PORT"; do
        stop_pidfile "$STATE/redis-$port.pid"
    done
}

status() {
    local port
    for port in "${REDIS_PORTS[@]}" "$SENTINEL_MASTER_PORT" "$SENTINEL_REPLICA_PORT" "$SENTINEL_PORT"; do
        if redis_ping "$port"; then log "redis 127.0.0.1:$port up"; else log "redis 127.0.0.1:$port DOWN"; fi
    done
    if rabbit_ping; then log "rabbitmq 127.0.0.1:$RABBIT_PORT up"; else log "rabbitmq 127.0.0.1:$RABBIT_PORT DOWN"; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) print_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac

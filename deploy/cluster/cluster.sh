#!/usr/bin/env bash
# Start / stop the cluster profile on this machine: Redis, N Celery workers, and the Dagster webserver + daemon,
# all bound to 127.0.0.1 and tracked by PID files under $CDP_CLUSTER_DIR (stopped by those PIDs, nothing else).
#
#   deploy/cluster/cluster.sh up        # redis + workers + webserver (http://127.0.0.1:3000) + daemon
#   deploy/cluster/cluster.sh workers   # only workers (an extra machine: point CDP_CELERY_BROKER/BACKEND at the
#                                       # Redis host, CDP_DATA_ROOT at the same s3:// root, the instance at the
#                                       # same instance config; see README "Running on a cluster")
#   deploy/cluster/cluster.sh status
#   deploy/cluster/cluster.sh down
#
# Settings (environment): CDP_WORKERS (2), CDP_WORKER_CONCURRENCY (1 step at a time per worker), CDP_REDIS_PORT
# (6379), CDP_UI_PORT (3000), CDP_CLUSTER_DIR (<repo>/.cluster), CDP_CLUSTER_HOME (the DAGSTER_HOME: <repo>/.dagster_home_cluster),
# CDP_DATA_ROOT (should be s3://...: every worker must see the same objects), and everything in
# dagster_project/executor.py and dagster_project/settings.py.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_BIN="${VENV_BIN:-$REPO/.venv/bin}"
STATE="${CDP_CLUSTER_DIR:-$REPO/.cluster}"
WORKERS="${CDP_WORKERS:-2}"
CONCURRENCY="${CDP_WORKER_CONCURRENCY:-1}"
REDIS_PORT="${CDP_REDIS_PORT:-6379}"
UI_PORT="${CDP_UI_PORT:-3000}"
HOST=127.0.0.1

export PATH="$VENV_BIN:$PATH"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# Its own instance (run queue, pools) apart from the embedded one in .dagster_home; CDP_CLUSTER_HOME overrides.
export DAGSTER_HOME="${CDP_CLUSTER_HOME:-$REPO/.dagster_home_cluster}"
export CDP_PROFILE=cluster
export CDP_CELERY_BROKER="${CDP_CELERY_BROKER:-redis://$HOST:$REDIS_PORT/0}"
export CDP_CELERY_BACKEND="${CDP_CELERY_BACKEND:-redis://$HOST:$REDIS_PORT/1}"
export DBT_SEND_ANONYMOUS_USAGE_STATS=False

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {  # start NAME CMD...: background process, output to $STATE/NAME.log, PID to $STATE/NAME.pid
    local name="$1"; shift
    if running "$STATE/$name.pid"; then echo "$name already running (pid $(cat "$STATE/$name.pid"))"; return; fi
    (cd "$REPO" && exec "$@") >>"$STATE/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
    echo "started $name (pid $!, log $STATE/$name.log)"
}

wait_for_log() {  # wait_for_log NAME PATTERN SECONDS
    local deadline=$((SECONDS + $3))
    until grep -q "$2" "$STATE/$1.log" 2>/dev/null; do
        running "$STATE/$1.pid" || { echo "$1 exited; last lines of its log:" >&2; tail -20 "$STATE/$1.log" >&2; exit 1; }
        [ $SECONDS -lt $deadline ] || { echo "$1 not ready after $3 s (see $STATE/$1.log)" >&2; exit 1; }
        sleep 0.5
    done
}

prepare() {
    mkdir -p "$STATE" "$DAGSTER_HOME"
    [ -f "$DAGSTER_HOME/dagster.yaml" ] || cp "$REPO/deploy/cluster/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
    case "${CDP_DATA_ROOT:-}" in
        s3://*) ;;
        *) echo "note: CDP_DATA_ROOT is '${CDP_DATA_ROOT:-<repo>/data/lake}', a local folder: fine for workers on" \
                "this machine only; set CDP_DATA_ROOT=s3://bucket/prefix when workers run elsewhere." ;;
    esac
    # dbt's manifest, and the instance's sqlite schema created once (concurrent first opens collide)
    "$VENV_BIN/python" -m dagster_project prepare >/dev/null
    "$VENV_BIN/python" -c "import dagster as dg; dg.DagsterInstance.get().dispose()"
}

start_workers() {
    for i in $(seq 1 "$WORKERS"); do
        start "worker$i" "$VENV_BIN/celery" -A dagster_project.celery_app worker -n "w$i@%h" -Q dagster \
            --concurrency="$CONCURRENCY" --prefetch-multiplier=1 --loglevel=INFO \
            --without-gossip --without-mingle --without-heartbeat
    done
    for i in $(seq 1 "$WORKERS"); do wait_for_log "worker$i" " ready." 180; done
    echo "$WORKERS worker(s) ready on $CDP_CELERY_BROKER"
}

up() {
    prepare
    command -v redis-server >/dev/null || { echo "redis-server missing: run deploy/cluster/install-redis.sh" >&2; exit 1; }
    start redis redis-server --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no --dir "$STATE"
    until redis-cli -h "$HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1; do
        running "$STATE/redis.pid" || { tail -20 "$STATE/redis.log" >&2; exit 1; }
        sleep 0.2
    done
    start_workers
    start webserver "$VENV_BIN/dagster-webserver" -h "$HOST" -p "$UI_PORT" -w "$REPO/workspace.yaml"
    start daemon "$VENV_BIN/dagster-daemon" run -w "$REPO/workspace.yaml"
    wait_for_log webserver "Serving dagster-webserver" 300
    echo "Dagster UI: http://$HOST:$UI_PORT  (DAGSTER_HOME=$DAGSTER_HOME; stop with: make cluster-down)"
}

down() {
    # Reverse order: the UI and daemon first (no new runs), then workers (SIGTERM = warm shutdown: each finishes
    # its current step), then Redis.
    local names=(daemon webserver)
    for f in "$STATE"/worker*.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done
    names+=(redis)
    for name in "${names[@]}"; do
        local pidfile="$STATE/$name.pid"
        [ -f "$pidfile" ] || continue
        local pid; pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            if kill -0 "$pid" 2>/dev/null; then echo "$name (pid $pid) ignored SIGTERM for 60 s: SIGKILL"; kill -KILL "$pid"; fi
            echo "stopped $name (pid $pid)"
        fi
        rm -f "$pidfile"
    done
}

status() {
    for f in "$STATE"/*.pid; do
        [ -e "$f" ] || { echo "nothing started (no PID files in $STATE)"; return; }
        local name; name="$(basename "$f" .pid)"
        if running "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: not running (stale pid file)"; fi
    done
}

case "${1:-}" in
    up) up ;;
    workers) prepare; start_workers ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|workers|status|down" >&2; exit 2 ;;
esac

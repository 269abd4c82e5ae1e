# Shared helpers for the scripts and benchmarks: build, fresh database, start/stop the
# server, log in, read wrk's latencies. Source it (after `set -euo pipefail`); do not run it.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/telestate-target}
# Base URL without a database name; trust auth is assumed (see scripts/pg-up.sh).
PG_BASE_URL=${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432}
# Fixed credentials: the server creates this owner on first start of the fresh database.
ADMIN_USER=telestate-admin
ADMIN_PASSWORD=telestate-test-password-1

# On disk (not /tmp) so the SQLite numbers are comparable to a real deployment.
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/telestate.XXXXXX")
SERVER_PID=""
CHILD_PID=""
PG_DB=""
PY="$ROOT/.venv/bin/python"
[[ -x $PY ]] || PY=python3

cleanup() {
    local rc=$? pid
    for pid in $CHILD_PID $SERVER_PID; do
        kill "$pid" 2>/dev/null || continue
        # actix drains connections for up to 30 s on TERM; we do not need that grace here.
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && -s $WORK/server.log ]]; then
        echo "--- server log (last 60 lines) ---" >&2
        tail -n 60 "$WORK/server.log" >&2
    fi
    # The server is gone by now, so the drop cannot hit "database is in use".
    if [[ -n $PG_DB ]]; then
        dropdb --no-password --if-exists --force --maintenance-db="$PG_BASE_URL/postgres" "$PG_DB" >/dev/null 2>&1 ||
            echo "warning: could not drop database $PG_DB" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
# Untrapped INT/TERM would kill bash without running the EXIT trap (server and DB would leak).
trap 'exit 130' INT
trap 'exit 143' TERM

# interruptible CMD...: bash defers traps until a foreground child ends, so long steps run
# in the background and we wait; INT/TERM then reach the trap (which kills CMD) at once.
interruptible() {
    "$@" &
    CHILD_PID=$!
    local rc=0
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return "$rc"
}

# build_server debug|release -> sets BIN. TELESTATE_BIN=path skips the build (to try the scripts with a stand-in).
build_server() {
    if [[ -n ${TELESTATE_BIN:-} ]]; then BIN=$TELESTATE_BIN; return; fi
    local profile=$1 flag=()
    [[ $profile == release ]] && flag=(--release)
    (cd "$ROOT" && cargo build "${flag[@]}" -p telestate)
    BIN=$CARGO_TARGET_DIR/$profile/telestate
}

# fresh_db sqlite|postgres -> sets DB_URL. Unique names let parallel runs (and a crashed earlier run) coexist.
fresh_db() {
    case $1 in
        sqlite) DB_URL="sqlite://$WORK/telestate.db" ;;
        postgres)
            PG_DB="telestate_$(basename "$0" .sh)_$$_$RANDOM"
            PG_DB=${PG_DB//[^a-zA-Z0-9_]/_}
            createdb --no-password --maintenance-db="$PG_BASE_URL/postgres" "$PG_DB"
            # The server is on the same host: TLS over loopback (libpq's default
            # sslmode=prefer, and Debian's PostgreSQL has ssl on) only burns CPU on both
            # sides — 20% of the list benchmark's throughput. A remote database keeps TLS.
            DB_URL="$PG_BASE_URL/$PG_DB?sslmode=disable"
            ;;
        *) echo "backend must be sqlite or postgres, got '$1'" >&2; exit 2 ;;
    esac
}

# First port from $1 upwards that nobody answers on (bash /dev/tcp; no extra tools needed).
free_port() {
    local p=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# start_server PORT: runs the binary directly (not via cargo) so SERVER_PID is the server itself.
start_server() {
    PORT=$1
    BASE="http://127.0.0.1:$PORT"
    TELESTATE_DATABASE_URL=$DB_URL TELESTATE_BIND=127.0.0.1:$PORT \
        TELESTATE_ADMIN_USER=$ADMIN_USER TELESTATE_ADMIN_PASSWORD=$ADMIN_PASSWORD \
        TELESTATE_LOG_FORMAT=text TELESTATE_LOG=${TELESTATE_LOG:-info} \
        "$BIN" serve >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    # Generous: startup runs the migrations first.
    wait_ready "$BASE" 60
}

# wait_ready URL SECONDS: returns once the server SERVER_PID answers URL/readyz; exits if it
# dies first or has not answered within SECONDS.
wait_ready() {
    local url=$1 seconds=$2
    for _ in $(seq 1 $((seconds * 2))); do
        curl -fsS -o /dev/null "$url/readyz" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited during startup" >&2; exit 1; }
        sleep 0.5
    done
    echo "server not ready after $seconds s" >&2
    exit 1
}

# json_get KEY < json: avoids a jq dependency; python3 is needed for the venv anyway.
json_get() {
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# login -> sets TOKEN.
login() {
    TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
        -d "{\"username\":\"$ADMIN_USER\",\"password\":\"$ADMIN_PASSWORD\"}" \
        "$BASE/api/v1/auth/login" | json_get access_token)
    [[ -n $TOKEN ]] || { echo "login returned no token" >&2; exit 1; }
}

# to_ms LATENCY: wrk prints latencies as 812.00us / 1.23ms / 1.05s; normalise to ms.
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.2f", n * f }'
}

#!/usr/bin/env bash
# Instructions the server executes per request, counted by valgrind's callgrind:
#   bench/instructions-per-request.sh HOLD_FILE PATH [REQUESTS] [BIN]
# HOLD_FILE is what `SEARCH_BENCH_HOLD=FILE bench/search.sh …` writes. BIN (default: the
# held server's binary) is started under callgrind on the held database, answers 20
# requests for PATH, and is stopped; then again with 20 + REQUESTS (default 200). The
# difference divided by REQUESTS is what one request costs, start-up and shutdown
# cancelled out. Unlike req/s or CPU time on two shared cores, the count repeats to a
# fraction of a percent whatever else the machine does, so two builds differing by 1%
# can be told apart (run it once per binary). Requests are sequential: this measures
# the work, not contention. Set CALLGRIND_KEEP=DIR to keep both profiles for
# `callgrind_annotate`.
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"

hold=${1:?usage: $0 HOLD_FILE PATH [REQUESTS] [BIN]}
path=${2:?path and query, e.g. /api/v1/numbers?limit=50}
requests=${3:-200}
command -v valgrind >/dev/null || { echo "needs valgrind (Debian package valgrind)" >&2; exit 2; }
# Only these are taken from the held estate: its SERVER_PID must not become ours (the
# exit trap would stop it).
read -r DB_URL held_bin held_pid TOKEN < <(
    # shellcheck source=/dev/null
    source "$hold"
    echo "$DB_URL $BIN $SERVER_PID $TOKEN"
)
bin=${4:-$held_bin}
# The held server's key file is relative to its working directory: started there, ours
# reads the same key and accepts the held token (a login would time an argon2 hash).
held_dir=$(readlink "/proc/$held_pid/cwd") || { echo "the held server ($held_pid) is not running" >&2; exit 1; }

# count N: sets COUNT to the instructions of a start, N requests for PATH and a stop.
# Run in this shell, not in `$(…)`: a failure must reach the exit trap, which stops
# the server under valgrind.
count() {
    local n=$1 out=$WORK/callgrind.$1 port
    port=$(free_port 18400)
    (cd "$held_dir" && TELESTATE_WORKER=off TELESTATE_DATABASE_URL=$DB_URL \
        TELESTATE_BIND=127.0.0.1:$port TELESTATE_LOG_FORMAT=text TELESTATE_LOG=warn \
        exec valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve) \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    # Slow under valgrind: about fifty times.
    wait_ready "http://127.0.0.1:$port" 120
    for _ in $(seq 1 "$n"); do
        curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port$path" ||
            { echo "a request for $path failed: every request must succeed to be counted" >&2; exit 1; }
    done
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    if [[ -n ${CALLGRIND_KEEP:-} ]]; then mkdir -p "$CALLGRIND_KEEP" && cp "$out" "$CALLGRIND_KEEP/"; fi
    COUNT=$(awk '/^summary:|^totals:/ { print $2; exit }' "$out")
}

count 20
base=$COUNT
count $((20 + requests))
echo "$path: $(((COUNT - base) / requests)) instructions per request ($(basename "$bin"), $requests requests)"

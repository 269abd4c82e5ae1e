#!/usr/bin/env bash
# CPU time per request, split between the server, PostgreSQL's processes and wrk:
#   bench/cpu-per-request.sh HOLD_FILE PATH [CONNECTIONS] [SECONDS]
# HOLD_FILE is what `SEARCH_BENCH_HOLD=FILE bench/search.sh …` writes (BASE, TOKEN,
# SERVER_PID; its SCENARIO_* variables hold the scenarios' paths). Throughput on two shared
# cores moves with whatever else runs; the CPU a request costs moves much less, so this
# is the figure to compare two builds by (start the other build on the same database at
# another port with TELESTATE_WORKER=off, and point a copy of the file at it).
set -euo pipefail
# shellcheck source=/dev/null
source "${1:?usage: $0 HOLD_FILE PATH [CONNECTIONS] [SECONDS]}"
path=${2:?path and query, e.g. /api/v1/numbers?limit=50}
connections=${3:-16}
seconds=${4:-6}

# ticks PID...: user + system clock ticks the processes have used so far.
ticks() {
    local total=0 pid fields
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] || continue
        read -r -a fields < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
postgres_pids() { pgrep -x postgres || true; }

hz=$(getconf CLK_TCK)
out=$(mktemp) times=$(mktemp)
trap 'rm -f "$out" "$times"' EXIT
server0=$(ticks "$SERVER_PID")
# shellcheck disable=SC2046 # one pid per word
pg0=$(ticks $(postgres_pids))
/usr/bin/time -f '%U %S' -o "$times" wrk -t2 -c"$connections" -d"${seconds}s" --latency \
    -H "Authorization: Bearer $TOKEN" "$BASE$path" >"$out"
server1=$(ticks "$SERVER_PID")
# shellcheck disable=SC2046
pg1=$(ticks $(postgres_pids))
requests=$(awk '/ requests in / { print $1 }' "$out")
((requests > 0)) || { echo "no request completed" >&2; exit 1; }
# An expired token answers 401 fast: that would read as a cheap request.
if grep -q 'Non-2xx' "$out"; then
    cat "$out" >&2
    echo "some responses were not 2xx (an expired token?); no figures" >&2
    exit 1
fi
read -r wrk_user wrk_sys <"$times"
awk -v n="$requests" -v s=$((server1 - server0)) -v p=$((pg1 - pg0)) -v wu="$wrk_user" -v ws="$wrk_sys" \
    -v hz="$hz" -v rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")" -v p99="$(awk '$1 == "99%" { print $2 }' "$out")" \
    -v path="$path" 'BEGIN {
        printf "%s: %.0f req/s, p99 %s; CPU µs per request: server %.0f, postgres %.0f, wrk %.0f, total %.0f\n",
            path, rps, p99, s / hz / n * 1e6, p / hz / n * 1e6, (wu + ws) / n * 1e6, (s / hz + p / hz + wu + ws) / n * 1e6
    }'

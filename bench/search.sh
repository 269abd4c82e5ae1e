#!/usr/bin/env bash
# Search benchmark on one backend: bench/search.sh sqlite|postgres
# Builds a 1,000,000-number estate through the API with the data each filter looks for
# placed worst-case — clustered after everything else in E.164 order (a late block, the
# German numbers) or spread thinly over the whole estate (0.1% reserved) — then measures
# one page (limit=50) of GET /api/v1/numbers per filter with wrk at 1 and at 16
# connections, next to GET /api/v1/me as the ceiling of the same run. Progress on stderr,
# one summary table on stdout. Release build, fresh database, everything on 127.0.0.1.
# TELESTATE_BIN skips the build; SEARCH_BENCH_SECONDS / SEARCH_BENCH_WARMUP_SECONDS set
# the timed and the discarded part of each wrk run (8 and 2). SEARCH_BENCH_ONLY (an
# extended regex over scenario names) runs only the scenarios it matches, besides `me`;
# SEARCH_BENCH_PERF=DIR records a system-wide `perf` profile of each 16-client run there.
# SEARCH_BENCH_HOLD=FILE builds the estate, writes BASE, TOKEN, DB_URL and the server's pid
# to FILE (shell syntax) and keeps the server up until interrupted: for profiling by hand.
set -euo pipefail
backend=${1:?usage: $0 sqlite|postgres}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
command -v wrk >/dev/null || { echo "wrk missing: run scripts/bootstrap.sh" >&2; exit 1; }
seconds=${SEARCH_BENCH_SECONDS:-8}
warmup=${SEARCH_BENCH_WARMUP_SECONDS:-2}

# lap STEP: reports the time since the previous lap (or the script's start) on stderr.
started=$(date +%s.%N)
lap_at=$started
lap() {
    local now
    now=$(date +%s.%N)
    echo "setup: $1 in $(awk -v a="$lap_at" -v b="$now" 'BEGIN { printf "%.1f", b - a }') s" >&2
    lap_at=$now
}

build_server release
fresh_db "$backend"
# Pinned so a smaller value in the caller's environment cannot refuse the large range.
export TELESTATE_MAX_RANGE_SIZE=1000000
start_server "$(free_port 18280)"
login
auth=(-H "Authorization: Bearer $TOKEN")

# api METHOD PATH [JSON]: prints the answer's body. Any answer but 2xx stops the script
# with the body shown: a silently failed setup step would make every number below a lie.
api() {
    local args=(-sS -o "$WORK/answer.json" -w '%{http_code}' --max-time 900 -X "$1" "${auth[@]}")
    (($# > 2)) && args+=(-H 'Content-Type: application/json' -d "$3")
    local code
    code=$(curl "${args[@]}" "$BASE$2")
    [[ $code == 2* ]] || { echo "$1 $2 answered $code: $(head -c 500 "$WORK/answer.json")" >&2; exit 1; }
    cat "$WORK/answer.json"
}
lap "build, fresh database, server start, login"

# --- the estate --------------------------------------------------------------------------
bulk_loc=$(api POST /api/v1/locations '{"name":"Bulk","country":"GB"}' | json_get id)
late_loc=$(api POST /api/v1/locations '{"name":"Late","country":"GB"}' | json_get id)
de_loc=$(api POST /api/v1/locations '{"name":"Berlin","country":"DE"}' | json_get id)
lap "3 locations"

# SPEC lists POST /api/v1/platforms, but the server may not have it yet (404/405): then
# the row goes straight into the fresh database, which is all a platform filter reads.
# Kind none: a Teams or webhook platform would queue provisioning jobs on assignment.
code=$(curl -sS -o "$WORK/answer.json" -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"name":"Bench late","kind":"none"}' "$BASE/api/v1/platforms")
case $code in
    2*) platform=$(json_get id <"$WORK/answer.json") ;;
    404 | 405)
        insert="INSERT INTO platforms (name, kind, created_at) VALUES ('Bench late', 'none', CURRENT_TIMESTAMP) RETURNING id"
        case $backend in
            sqlite) platform=$(sqlite3 -cmd '.timeout 10000' "$WORK/telestate.db" "$insert") ;;
            postgres) platform=$(psql --no-psqlrc -X -q -t -A "$DB_URL" -c "$insert") ;;
        esac
        echo "no platforms endpoint ($code): platform $platform written into the database" >&2
        ;;
    *) echo "POST /api/v1/platforms answered $code: $(head -c 500 "$WORK/answer.json")" >&2; exit 1 ;;
esac
lap "platform"

# London fixed-line block (the same numbers bench/run.sh creates, all valid). A and B
# together are the GB estate; B sorts after all of A, so a filter matching only B makes a
# scan in E.164 order walk past 960,000 rows before its first hit.
api POST /api/v1/ranges "{\"name\":\"bulk\",\"start\":\"+442070000000\",\"end\":\"+442070959999\",\"location_id\":\"$bulk_loc\",\"tags\":[\"bulk\"]}" >/dev/null
lap "range A (960,000 numbers)"
late_type=direct_routing
range_b=$(api POST /api/v1/ranges "{\"name\":\"late\",\"start\":\"+442070960000\",\"end\":\"+442070999999\",\"location_id\":\"$late_loc\",\"tags\":[\"t03\"],\"platform_id\":\"$platform\",\"number_type\":\"$late_type\"}" | json_get id)
lap "range B (40,000 numbers)"
# +49 sorts after every +44 number, so country=DE is a late block too.
api POST /api/v1/ranges "{\"name\":\"berlin\",\"start\":\"+493012340000\",\"end\":\"+493012340999\",\"location_id\":\"$de_loc\",\"tags\":[\"de\"]}" >/dev/null
lap "DE range (1,000 numbers)"

# 0.1% spread evenly over range A, tagged and reserved in one import: a status or tag that
# is rare everywhere, so a scan finds a page of it only after ~48,000 rows.
{
    echo "number,status,tags,reserved_reason"
    for ((i = 0; i < 1000; i++)); do
        echo "+$((442070000000 + i * 960)),reserved,bulk;spread,bench spread"
    done
} >"$WORK/spread.csv"
read -r code < <(curl -sS -o "$WORK/plan.json" -w '%{http_code}\n' --max-time 900 \
    "${auth[@]}" -H 'Content-Type: text/csv' --data-binary "@$WORK/spread.csv" "$BASE/api/v1/imports")
[[ $code == 201 ]] || { echo "import plan answered $code: $(head -c 500 "$WORK/plan.json")" >&2; exit 1; }
read -r plan_id plan_updates plan_errors < <("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); s=p["summary"]; print(p["id"], s["updates"], s["errors"])' "$WORK/plan.json")
[[ $plan_errors == 0 && $plan_updates == 1000 ]] ||
    { echo "spread import plan: $plan_updates updates, $plan_errors errors (expected 1000, 0)" >&2; exit 1; }
api POST "/api/v1/imports/$plan_id/apply" >/dev/null
lap "spread import (1,000 reserved + tagged)"

# 20 assignments and 20 "ceo" descriptions, every 52,000th number from two offsets: the
# last of each lands in range B. Neither offset hits a spread (multiple-of-960) number.
service=$(api POST /api/v1/services '{"name":"CEO office line","kind":"other"}' | json_get id)
for ((k = 0; k < 20; k++)); do
    api POST "/api/v1/numbers/+$((442070000123 + k * 52000))/assign" \
        "{\"target\":{\"kind\":\"service\",\"id\":\"$service\"}}" >/dev/null
done
lap "20 assignments"
for ((k = 0; k < 20; k++)); do
    api PATCH "/api/v1/numbers/+$((442070000456 + k * 52000))" '{"description":"CEO office direct line"}' >/dev/null
done
lap "20 descriptions"

# --- scenarios ---------------------------------------------------------------------------
# name|path and query|items expected on the page (the exact count: a filter that matches
# nothing, or the wrong thing, must stop the run, not report a fast empty page).
list='/api/v1/numbers?limit=50'
late_tag="$list&tag=t03&status=available"
# The 11th page of tag_late: a cursor deep into the late block.
cursor=""
for _ in $(seq 1 10); do
    cursor=$(curl -fsS "${auth[@]}" "$BASE$late_tag${cursor:+&cursor=$cursor}" |
        "$PY" -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)["next_cursor"], safe=""))')
done
lap "10 pages of tag_late walked for tag_late_p2's cursor"
# A live estate is vacuumed and analysed by autovacuum; a machine may have it off (this
# one's PostgreSQL does), and a freshly loaded estate has not met it yet: without it,
# index-only scans visit the table for every entry and `tags` has no statistics.
if [[ $backend == postgres ]]; then
    # The checkpoint writes what the load and the vacuum dirtied now, not during a run.
    psql --no-psqlrc -X -q "$DB_URL" -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
    lap "VACUUM (ANALYZE), as autovacuum would, and a checkpoint"
fi
setup_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "setup: all in $setup_s s" >&2

scenarios=(
    "me|/api/v1/me|-"
    "all|$list|50"
    "tag_late|$late_tag|50"
    "tag_late_p2|$late_tag&cursor=$cursor|50"
    "location_late|$list&location=$late_loc&status=available|50"
    "range_late|$list&range=$range_b&status=available|50"
    "platform_late|$list&platform=$platform|50"
    "type_late|$list&number_type=$late_type|50"
    "country_late|$list&country=DE|50"
    "status_spread|$list&status=reserved|50"
    "tag_spread|$list&tag=spread|50"
    # A page size that is not one of the usual ones (an integration asking for a few).
    "tag_spread_small|/api/v1/numbers?limit=7&tag=spread|7"
    "tag_loc_late|$list&tag=t03&location=$late_loc&status=available|50"
    "tag_bulk_reserved|$list&tag=bulk&status=reserved|50"
    "assigned|$list&assigned_to=$service|20"
    "q_digits|$list&q=2070959999|1"
    # Free text reads descriptions and assignee names: the 20 described and the 20 assigned.
    "q_ceo|$list&q=ceo|40"
    # Last as well as first: the ceiling at the end shows whether the run itself drifted.
    "me_end|/api/v1/me|-"
)

# Checked up front, before any load: a mistake shows in seconds, not minutes in.
for s in "${scenarios[@]}"; do
    IFS='|' read -r name path want <<<"$s"
    [[ $want == - ]] && { curl -fsS -o /dev/null "${auth[@]}" "$BASE$path"; continue; }
    got=$(curl -fsS --max-time 120 "${auth[@]}" "$BASE$path" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
    [[ $got == "$want" ]] || { echo "$name: expected $want items on the page, got $got ($path)" >&2; exit 1; }
done

# settle: waits until the server holds no database connection. wrk closing its connections
# does not stop the queries behind them (they run on to the end on the blocking pool), so
# without this a slow scenario's leftovers would be timed as part of the next run. Two
# zero readings in a row, so a connection passed from one waiter to the next is not missed.
settle() {
    local t0 zeros=0 busy
    t0=$(date +%s)
    while ((zeros < 2)); do
        busy=$(curl -fsS "$BASE/metrics" | awk '/^telestate_db_pool_connections\{.*state="in_use"/ { print $NF }')
        if [[ ${busy:-1} == 0 ]]; then zeros=$((zeros + 1)); else zeros=0; fi
        (($(date +%s) - t0 < 300)) || { echo "server still busy after 300 s ($busy connections in use)" >&2; exit 1; }
        sleep 0.1
    done
    (($(date +%s) - t0 < 2)) || echo "  $name: waited $(($(date +%s) - t0)) s for the server to finish leftover requests" >&2
}

# measure THREADS CONNECTIONS URL -> sets RPS, P50, P99 (ms) and ERRORS; in this shell, not
# a subshell, so Ctrl-C reaches wrk through `interruptible`. The timeout is long enough for
# the slowest page we expect and short enough that the run ends; timed-out requests are
# not in wrk's latencies, so their count is reported next to them.
measure() {
    interruptible wrk -t"$1" -c"$2" -d"${warmup}s" --timeout 10s "${auth[@]}" "$3" >/dev/null
    settle
    interruptible wrk -t"$1" -c"$2" -d"${seconds}s" --timeout 10s --latency "${auth[@]}" "$3" >"$WORK/wrk.txt"
    settle
    # wrk counts a fast 4xx or 5xx as throughput.
    if grep -q 'Non-2xx' "$WORK/wrk.txt"; then
        cat "$WORK/wrk.txt" >&2
        echo "some responses were not 2xx; numbers are meaningless" >&2
        exit 1
    fi
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.txt")
    # "Socket errors: connect 0, read 0, write 0, timeout 12", present only when not all 0.
    ERRORS=$(awk '/Socket errors:/ { gsub(",", ""); e = $4 + $6 + $8 + $10 } END { print e + 0 }' "$WORK/wrk.txt")
    # Requests still running when wrk stops are neither completed nor errors: with none
    # completed, wrk prints latencies of 0, which must not read as fast.
    if [[ $(awk '/ requests in / { print $1 }' "$WORK/wrk.txt") == 0 ]]; then
        P50=n/a P99=n/a
        echo "  $name: no request completed in ${seconds} s at $2 connections" >&2
        return
    fi
    P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")")
    P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")")
}

if [[ -n ${SEARCH_BENCH_HOLD:-} ]]; then
    printf 'BASE=%q\nTOKEN=%q\nDB_URL=%q\nSERVER_PID=%q\nBIN=%q\n' "$BASE" "$TOKEN" "$DB_URL" "$SERVER_PID" "$BIN" >"$SEARCH_BENCH_HOLD"
    for s in "${scenarios[@]}"; do echo "SCENARIO_${s%%|*}=$(printf %q "$(cut -d'|' -f2 <<<"$s")")"; done >>"$SEARCH_BENCH_HOLD"
    echo "estate ready, server held: $SEARCH_BENCH_HOLD (Ctrl-C ends it)" >&2
    interruptible sleep infinity
fi
if [[ -n ${SEARCH_BENCH_ONLY:-} ]]; then
    kept=()
    for s in "${scenarios[@]}"; do
        [[ ${s%%|*} =~ ^(me|me_end|${SEARCH_BENCH_ONLY})$ ]] && kept+=("$s")
    done
    scenarios=("${kept[@]}")
fi

rows=()
c16=()
for s in "${scenarios[@]}"; do
    IFS='|' read -r name path _ <<<"$s"
    measure 1 1 "$BASE$path"
    c1="$RPS, $P50, $P99"
    c1_errors=$ERRORS
    if [[ -n ${SEARCH_BENCH_PERF:-} ]]; then
        mkdir -p "$SEARCH_BENCH_PERF"
        # Started after wrk's warm-up, stopped before its end: only steady load is sampled.
        (sleep $((warmup + 1)) && perf record -a -g -q -o "$SEARCH_BENCH_PERF/$name.data" -- sleep $((seconds - 2)) 2>/dev/null) &
        perf_pid=$!
    fi
    measure 2 16 "$BASE$path"
    [[ -z ${SEARCH_BENCH_PERF:-} ]] || wait "$perf_pid"
    echo "$name: c1 $c1 ($c1_errors errors); c16 $RPS, $P50, $P99 ($ERRORS errors) [req/s, p50 ms, p99 ms]" >&2
    rows+=("$backend, $name, $c1, $RPS, $P50, $P99, $c1_errors, $ERRORS")
    c16+=("$RPS")
done
# The share of the ceiling against the first `me` and against `me_end`: this machine's
# speed has drifted by a quarter between the two within one run, so a share against
# one of them alone can be flattered; a scenario holds only if it holds against both.
me_first=${c16[0]}
me_last=${c16[-1]}
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }'; }
for i in "${!rows[@]}"; do
    rows[i]="${rows[i]}, $(share "${c16[i]}" "$me_first"), $(share "${c16[i]}" "$me_last")"
done

# The plans of the statements behind each scenario, as `telestate export --explain` has the
# database show them on this estate, kept in bench/plans/ (checked in: a change of plan
# shows in review).
plans="$ROOT/bench/plans/$backend.txt"
mkdir -p "$(dirname "$plans")"
{
    echo "# $backend, 1,000,000-number estate of bench/search.sh: driver, statement, plan per scenario"
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name path _ <<<"$s"
        [[ $path == *"?"* && $name != *_p2 && $name != *_small ]] || continue
        args=()
        IFS='&' read -ra pairs <<<"${path#*\?}"
        for kv in "${pairs[@]}"; do
            key=${kv%%=*} value=$("$PY" -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "${kv#*=}")
            case $key in
                limit | cursor) ;;
                *) args+=("--${key//_/-}" "$value") ;;
            esac
        done
        echo
        echo "## $name: ${path#*\?}"
        TELESTATE_DATABASE_URL=$DB_URL "$BIN" export --explain "${args[@]}"
    done
} >"$plans"
echo "plans written to bench/plans/$backend.txt" >&2
total_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
echo "search bench on $backend: setup $setup_s s, whole run $total_s s" >&2

echo
echo "backend, scenario, c1_rps, c1_p50_ms, c1_p99_ms, c16_rps, c16_p50_ms, c16_p99_ms, c1_errors, c16_errors, c16_share_of_me, c16_share_of_me_end"
printf '%s\n' "${rows[@]}"

#!/usr/bin/env bash
# Benchmark one backend: bench/run.sh sqlite|postgres
# Measures creating a 1,000,000-number range, a filtered page under load, memory, then\n# allocations under load and the count of duplicate assignments.
# Release build, fresh database, everything on 127.0.0.1. TELESTATE_BIN skips the build.
set -euo pipefail
backend=${1:?usage: $0 sqlite|postgres}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
command -v wrk >/dev/null || { echo "wrk missing: run scripts/bootstrap.sh" >&2; exit 1; }

build_server release
fresh_db "$backend"
# Pinned so a smaller value in the caller's environment cannot refuse the 1M range.
export TELESTATE_MAX_RANGE_SIZE=1000000
start_server "$(free_port 18180)"
login
auth=(-H "Authorization: Bearer $TOKEN")

loc=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"name":"Bench London","country":"GB"}' "$BASE/api/v1/locations" | json_get id)

# London fixed-line block: all 1,000,000 numbers are valid per libphonenumber 9.0.43 (checked once).
read -r code range_s < <(curl -sS -o "$WORK/range.json" -w '%{http_code} %{time_total}\n' --max-time 900 \
    "${auth[@]}" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"start\":\"+442070000000\",\"end\":\"+442070999999\",\"location_id\":\"$loc\",\"tags\":[\"bench\"]}" \
    "$BASE/api/v1/ranges")
[[ $code == 201 ]] || { echo "range create answered $code: $(head -c 500 "$WORK/range.json")" >&2; exit 1; }
echo "range of 1,000,000 created in ${range_s} s" >&2

url="$BASE/api/v1/numbers?tag=bench&location=$loc&status=available&limit=50"
# Fail before the load run if the page is wrong: wrk counts a fast 4xx as throughput.
n=$(curl -fsS "${auth[@]}" "$url" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
[[ $n == 50 ]] || { echo "expected 50 items on the page, got $n" >&2; exit 1; }

# Short warm-up so the timed run does not include pool fill and first-touch page cache.
interruptible wrk -t2 -c16 -d3s "${auth[@]}" "$url" >/dev/null
interruptible wrk -t2 -c16 -d15s --latency "${auth[@]}" "$url" >"$WORK/wrk.txt"
cat "$WORK/wrk.txt" >&2
if grep -q 'Non-2xx' "$WORK/wrk.txt"; then echo "some responses were not 2xx; numbers are meaningless" >&2; exit 1; fi

# wrk prints latencies as 812.00us / 1.23ms / 1.05s; normalise to ms.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.2f", n * f }'; }
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.txt")
p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")")
p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")")
# VmHWM is the peak since start, so it includes the range creation.
rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")
hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")

# Allocations: 32 clients take the lowest free number of the pool, each in one transaction
# with its audit record. Then check that no number was handed out twice: every successful
# allocation writes exactly one number.assign record and moves exactly one number to
# assigned, so the two counts differ if any number was assigned twice.
svc=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"name":"Bench queue","kind":"call_queue"}' "$BASE/api/v1/services" | json_get id)
export ALLOC_BODY="{\"pool\":{\"tags\":[\"bench\"],\"location_id\":\"$loc\"},\"target\":{\"kind\":\"service\",\"id\":\"$svc\"}}"
interruptible wrk -t2 -c32 -d10s --latency -s "$(dirname "$0")/allocate.lua" "${auth[@]}" "$BASE/api/v1/allocations" >"$WORK/alloc.txt"
cat "$WORK/alloc.txt" >&2
if grep -q 'Non-2xx' "$WORK/alloc.txt"; then echo "some allocations failed" >&2; exit 1; fi
alloc_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/alloc.txt")
alloc_p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$WORK/alloc.txt")")
assigned=$(curl -fsS "${auth[@]}" "$BASE/api/v1/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["totals"]["assigned"])')
records=$("$PY" - "$BASE" "$TOKEN" <<'PYEOF'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
count, cursor = 0, None
while True:
    url = f"{base}/api/v1/audit?action=number.assign&limit=1000" + (f"&cursor={cursor}" if cursor else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    page = json.load(urllib.request.urlopen(req))
    count += len(page["items"])
    cursor = page["next_cursor"]
    if not cursor:
        break
print(count)
PYEOF
)
duplicates=$((records - assigned))
echo "allocations: $assigned numbers assigned, $records assign records, duplicates $duplicates" >&2

cat <<EOF

backend, range_create_s, rps, p50_ms, p99_ms, rss_mb, hwm_mb, alloc_rps, alloc_p99_ms, duplicates
$backend, $range_s, $rps, $p50, $p99, $rss, $hwm, $alloc_rps, $alloc_p99, $duplicates
EOF

#!/usr/bin/env bash
# Benchmark one backend: bench/run.sh sqlite|postgres
# Measures creating a 1,000,000-number range, a filtered page under load, memory, then
# allocations under load and the count of duplicate assignments, then the CSV export of the
# estate (seconds, peak RSS, and the database's own CSV output of the same rows, for the ratio).
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

# --- CSV export: the whole estate through the API, streamed to /dev/null -----------------
# Peak RSS is sampled during the export alone (VmHWM already holds the range creation's peak).
# RssAnon leaves out file pages: SQLite reads its file through a memory map, and the pages
# it touched count in VmRSS though they are the kernel's reclaimable cache.
sample_rss() { # sample_rss PID FILE: keeps the highest "VmRSS RssAnon" (kB) seen in FILE until killed
    local peak=0 anon_peak=0 r a
    while read -r r a < <(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { if (r) print r, a }' "/proc/$1/status" 2>/dev/null) && [[ -n $r ]]; do
        peak=$((r > peak ? r : peak)) anon_peak=$((a > anon_peak ? a : anon_peak))
        echo "$peak $anon_peak" >"$2"
        sleep 0.1
    done
}
export_base=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")
sample_rss "$SERVER_PID" "$WORK/export_peak_kb" &
sampler=$!
# curl fails (and so the script) when the chunked body ends without its terminator,
# which is how a server failing mid-export shows.
curl -sS -o /dev/null -w '%{http_code} %{time_total} %{size_download} %{time_starttransfer}\n' --max-time 600 \
    "${auth[@]}" "$BASE/api/v1/export/numbers.csv" >"$WORK/export.txt"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
read -r code export_s export_bytes export_first_s <"$WORK/export.txt"
[[ $code == 200 ]] || { echo "export answered $code" >&2; exit 1; }
# About 60 bytes a row; a much smaller body means rows are missing.
((export_bytes > 40000000)) || { echo "export sent only $export_bytes bytes" >&2; exit 1; }
export_peak=$(awk '{ printf "%.1f", $1 / 1024 }' "$WORK/export_peak_kb")
export_peak_anon=$(awk '{ printf "%.1f", $2 / 1024 }' "$WORK/export_peak_kb")

# The same rows and columns (names joined, tags aggregated) written by the database's own
# CSV output, for the ratio.
case $backend in
    sqlite)
        command -v sqlite3 >/dev/null || { echo "sqlite3 missing: run scripts/bootstrap.sh" >&2; exit 1; }
        tags_sql="(SELECT group_concat(name, ';') FROM (SELECT t.name FROM number_tags nt JOIN tags t ON t.id = nt.tag_id WHERE nt.number_id = n.id ORDER BY t.key))"
        ;;
    postgres)
        tags_sql="(SELECT string_agg(t.name, ';' ORDER BY t.key) FROM number_tags nt JOIN tags t ON t.id = nt.tag_id WHERE nt.number_id = n.id)"
        ;;
esac
select_sql="SELECT n.e164 AS number, n.status, n.country, l.name AS location, COALESCE(r.name, r.start_number || '-' || r.end_number) AS range, $tags_sql AS tags, n.description, p.name AS platform, n.number_type, n.assigned_kind AS assigned_to_kind, COALESCE(n.assigned_name, n.assigned_id) AS assigned_to, n.reserved_reason, n.reserved_for, n.reserved_until, n.quarantine_until AS quarantined_until FROM numbers n LEFT JOIN locations l ON l.id = n.location_id LEFT JOIN ranges r ON r.id = n.range_id LEFT JOIN platforms p ON p.id = n.platform_id ORDER BY n.e164"
t0=$(date +%s.%N)
case $backend in
    sqlite) sqlite3 -csv -header "$WORK/telestate.db" "$select_sql" >/dev/null ;;
    postgres) psql --no-psqlrc -q -X "$DB_URL" -c "\\copy ($select_sql) TO '/dev/null' CSV HEADER" ;;
esac
t1=$(date +%s.%N)
native_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "export: ${export_s} s (first byte after ${export_first_s} s, $export_bytes bytes), peak RSS ${export_peak} MB (anonymous ${export_peak_anon} MB; ${export_base} MB before);" \
    "$backend's own CSV output ${native_s} s; ratio $(awk -v a="$export_s" -v b="$native_s" 'BEGIN { printf "%.2f", a / b }')" >&2

cat <<EOF

backend, range_create_s, rps, p50_ms, p99_ms, rss_mb, hwm_mb, alloc_rps, alloc_p99_ms, duplicates, export_s, export_peak_rss_mb, export_peak_anon_mb, sqlite3_csv_s|psql_copy_s
$backend, $range_s, $rps, $p50, $p99, $rss, $hwm, $alloc_rps, $alloc_p99, $duplicates, $export_s, $export_peak, $export_peak_anon, $native_s
EOF

# --- CSV import: plan and apply a 1,000,000-row file carrying 100,000 changes -------------
# The estate as exported, with every tenth description changed: the plan compares all
# 1,000,000 lines with the inventory, the apply writes (and audits) the 100,000 changes.
curl -fsS -o "$WORK/estate.csv" --max-time 600 "${auth[@]}" "$BASE/api/v1/export/numbers.csv"
"$PY" - "$WORK/estate.csv" "$WORK/import.csv" <<'PYEOF'
import csv, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, newline="", encoding="utf-8") as f, open(dst, "w", newline="", encoding="utf-8") as g:
    rows = csv.reader(f)
    out = csv.writer(g, lineterminator="\n")
    header = next(rows)
    out.writerow(header)
    d = header.index("description")
    for i, row in enumerate(rows):
        if i % 10 == 0:
            row[d] = f"bench import {i}"
        out.writerow(row)
PYEOF
read -r code import_plan_s < <(curl -sS -o "$WORK/plan.json" -w '%{http_code} %{time_total}\n' --max-time 900 \
    "${auth[@]}" -H 'Content-Type: text/csv' --data-binary "@$WORK/import.csv" "$BASE/api/v1/imports")
[[ $code == 201 ]] || { echo "import plan answered $code: $(head -c 500 "$WORK/plan.json")" >&2; exit 1; }
read -r plan_id plan_rows plan_updates plan_errors < <("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); s=p["summary"]; print(p["id"], s["rows"], s["updates"], s["errors"])' "$WORK/plan.json")
[[ $plan_errors == 0 && $plan_updates == 100000 ]] ||
    { echo "import plan: $plan_rows rows, $plan_updates updates, $plan_errors errors (expected 100000 updates, 0 errors)" >&2; exit 1; }
read -r code import_apply_s < <(curl -sS -o "$WORK/apply.json" -w '%{http_code} %{time_total}\n' --max-time 900 \
    "${auth[@]}" -X POST "$BASE/api/v1/imports/$plan_id/apply")
[[ $code == 200 ]] || { echo "import apply answered $code: $(head -c 500 "$WORK/apply.json")" >&2; exit 1; }
echo "import: plan of $plan_rows rows (${plan_updates} updates) in ${import_plan_s} s, apply in ${import_apply_s} s" >&2

cat <<EOF

backend, import_plan_s, import_apply_s
$backend, $import_plan_s, $import_apply_s
EOF

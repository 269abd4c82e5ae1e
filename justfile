# Telestate developer commands. Set up once with scripts/bootstrap.sh, then `.venv/bin/just <recipe>`.

set shell := ["bash", "-euo", "pipefail", "-c"]
# A local .env (copy .env.sample) is read; variables already in the environment win.
set dotenv-load
# Comments inside recipes explain why; they are not commands to echo.
set ignore-comments

# Outside the clone so CI's fresh clones reuse one build.
export CARGO_TARGET_DIR := env("CARGO_TARGET_DIR", "/var/tmp/telestate-target")

# Base URL the tests create and drop their own databases from.
pg_url := "postgres://postgres@127.0.0.1:5432/postgres"

# List the recipes
default:
    @{{ just_executable() }} --justfile {{ justfile() }} --list

# Build and start the server on SQLite (./data); first start creates owner admin/admin
run:
    mkdir -p data
    TELESTATE_ADMIN_USER=${TELESTATE_ADMIN_USER:-admin} TELESTATE_ADMIN_PASSWORD=${TELESTATE_ADMIN_PASSWORD:-telestate-admin} \
        cargo run -p telestate -- serve

# Every test: lint, the suite on SQLite and on PostgreSQL, then schemathesis and the
# generated clients' smoke flow on both
test: lint
    scripts/pg-up.sh
    env -u TEST_DATABASE_URL cargo nextest run --workspace
    TEST_DATABASE_URL={{ pg_url }} cargo nextest run --workspace
    scripts/schemathesis.sh sqlite
    scripts/schemathesis.sh postgres
    scripts/clients.sh sqlite
    scripts/clients.sh postgres

# Generate the Python client and TypeScript types from openapi/openapi.json, lint it, and
# run the smoke flow with the generated client on one backend (sqlite or postgres)
clients backend="sqlite":
    scripts/clients.sh {{ backend }}

# Regenerate openapi/openapi.json from the code (a test fails while it is stale)
openapi:
    # Through a temp file so a failed build cannot leave a truncated spec behind.
    cargo run -q -p telestate -- openapi > openapi/openapi.json.tmp || { rm -f openapi/openapi.json.tmp; exit 1; }
    mv openapi/openapi.json.tmp openapi/openapi.json

# Release benchmarks per backend (bench/run.sh, then the search filters of bench/search.sh,
# then Teams sync, adopt and provisioning of bench/teams.sh, then the rules engine of
# bench/rules.sh); ends with the summary tables
# to paste into a note
bench backends="sqlite postgres":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/pg-up.sh
    rows=()
    imports=()
    searches=()
    teams_estate=()
    teams_jobs=()
    rules=()
    # run.sh prints progress on stderr and only its summaries on stdout (header + data row
    # each): the main table's row follows its header, the import table's row comes last.
    # search.sh prints one table: its header, then a row per scenario.
    for b in {{ backends }}; do
        out=$(bench/run.sh "$b")
        rows+=("$(sed -n '/^backend, range_create_s/{n;p;}' <<<"$out")")
        imports+=("$(tail -n 1 <<<"$out")")
        out=$(bench/search.sh "$b")
        search_header=$(grep '^backend, scenario,' <<<"$out")
        searches+=("$(sed '1,/^backend, scenario,/d' <<<"$out")")
        # teams.sh prints two tables: the estate's (header + one row), then the jobs' (header
        # + a row per latency and concurrency).
        out=$(bench/teams.sh "$b")
        estate_header=$(grep '^backend, users,' <<<"$out")
        teams_estate+=("$(sed -n '/^backend, users,/{n;p;}' <<<"$out")")
        jobs_header=$(grep '^backend, latency_ms,' <<<"$out")
        teams_jobs+=("$(sed '1,/^backend, latency_ms,/d' <<<"$out")")
        # rules.sh prints one table: its header and one row.
        out=$(bench/rules.sh "$b")
        rules_header=$(grep '^backend, users, rules,' <<<"$out")
        rules+=("$(sed -n '/^backend, users, rules,/{n;p;}' <<<"$out")")
    done
    echo
    echo "backend, range_create_s, rps, p50_ms, p99_ms, rss_mb, hwm_mb, alloc_rps, alloc_p99_ms, duplicates, export_s, export_peak_rss_mb, export_peak_anon_mb, sqlite3_csv_s|psql_copy_s"
    printf '%s\n' "${rows[@]}"
    echo
    echo "backend, import_plan_s, import_apply_s"
    printf '%s\n' "${imports[@]}"
    echo
    echo "$search_header"
    printf '%s\n' "${searches[@]}"
    echo
    echo "$estate_header"
    printf '%s\n' "${teams_estate[@]}"
    echo
    echo "$jobs_header"
    printf '%s\n' "${teams_jobs[@]}"
    echo
    echo "$rules_header"
    printf '%s\n' "${rules[@]}"

# Only the Teams benchmark (bench/teams.sh): sync, adopt and provisioning per backend
bench-teams backends="sqlite postgres":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/pg-up.sh
    for b in {{ backends }}; do bench/teams.sh "$b"; done

# Only the rules benchmark (bench/rules.sh): a full evaluation and joiner latency per backend
bench-rules backends="sqlite postgres":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/pg-up.sh
    for b in {{ backends }}; do bench/rules.sh "$b"; done

# Format all Rust code
fmt:
    cargo fmt --all

# Formatting, clippy on every target (any warning fails), store's module graph has no
# cycle, and what the web app shares with the server (domain, api-types) builds for WASM
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    scripts/store-modules.sh >/dev/null
    cargo check -q -p domain -p api-types --target wasm32-unknown-unknown

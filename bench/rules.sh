#!/usr/bin/env bash
# Rules benchmark on one backend: bench/rules.sh sqlite|postgres [rules_bench options]
# Runs crates/worker/examples/rules_bench.rs (release) against a fresh database: a full
# evaluation of 100,000 users against 20 rules, provisioning excluded (the first run,
# which assigns, and the steady-state run, which changes nothing), then the time from a
# user joining a group in the Graph simulator to their number being provisioned, with a
# 1 s delta sync interval. Progress on stderr, one table on stdout. Options after the
# backend go to the example (e.g. --users 10000 for a quick look); RULES_BENCH_BIN=path
# skips the build.
set -euo pipefail
backend=${1:?usage: $0 sqlite|postgres [rules_bench options]}
shift
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"

if [[ -n ${RULES_BENCH_BIN:-} ]]; then
    bench_bin=$RULES_BENCH_BIN
else
    (cd "$ROOT" && cargo build --release -p worker --example rules_bench)
    bench_bin=$CARGO_TARGET_DIR/release/examples/rules_bench
fi
fresh_db "$backend"
echo "rules bench on $backend ($DB_URL)" >&2
interruptible "$bench_bin" --db "$DB_URL" "$@" >"$WORK/rules.out"
cat "$WORK/rules.out"

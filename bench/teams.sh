#!/usr/bin/env bash
# Teams benchmark on one backend: bench/teams.sh sqlite|postgres [teams_bench options]
# Runs crates/worker/examples/teams_bench.rs (release) against a fresh database and the
# Graph simulator in a process of its own: the initial sync of 100,000 users in 500 groups
# (time, and the worker side's peak RSS), listing and adopting a 100,000-number Teams
# estate (timed apart), and provisioning jobs per second with 0 and 50 ms per Graph call
# at the worker's default concurrency and at 32. Progress on stderr, two tables on stdout.
# Options after the backend go to the example (e.g. --users 10000 --numbers 10000 for a
# quick look); TEAMS_BENCH_BIN=path skips the build.
set -euo pipefail
backend=${1:?usage: $0 sqlite|postgres [teams_bench options]}
shift
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"

if [[ -n ${TEAMS_BENCH_BIN:-} ]]; then
    bench_bin=$TEAMS_BENCH_BIN
else
    (cd "$ROOT" && cargo build --release -p worker --example teams_bench)
    bench_bin=$CARGO_TARGET_DIR/release/examples/teams_bench
fi
fresh_db "$backend"
echo "teams bench on $backend ($DB_URL)" >&2
# In the background (interruptible) so Ctrl-C reaches the cleanup, which kills the example;
# the simulator child exits when the example's end closes its stdin.
interruptible "$bench_bin" --db "$DB_URL" "$@" >"$WORK/teams.out"
cat "$WORK/teams.out"

#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, then every test —
# the Rust suites on SQLite and on PostgreSQL, and schemathesis and the generated clients'
# smoke flow (scripts/clients.sh) against both, then the web app's end-to-end tests in
# Chromium (e2e/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/just test
exec e2e/run.sh

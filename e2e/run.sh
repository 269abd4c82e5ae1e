#!/usr/bin/env bash
# End-to-end tests of the web app: builds it (scripts/frontend.sh) and the server, starts
# a fresh `telestate demo` on a free port with a temporary SQLite database, runs
# e2e/tests.mjs in Debian's Chromium (playwright-core, never a downloaded browser), saves
# screenshots of every main screen at 1280 and 390 px under e2e/screenshots/, and stops
# the server. E2E_PROFILE=release builds the server in release (default debug).
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] || { echo "e2e: $CHROMIUM not found (scripts/bootstrap.sh installs Debian's chromium)" >&2; exit 1; }
if [[ ! -d e2e/node_modules/playwright-core || $(cat e2e/node_modules/.telestate-lock 2>/dev/null) != "$(cat e2e/package-lock.json)" ]]; then
    (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
    cp e2e/package-lock.json e2e/node_modules/.telestate-lock
fi

scripts/frontend.sh
build_server "${E2E_PROFILE:-debug}"
fresh_db sqlite
PORT=$(free_port 18480)
BASE="http://127.0.0.1:$PORT"
rm -rf e2e/screenshots
mkdir -p e2e/screenshots
TELESTATE_DATABASE_URL=$DB_URL TELESTATE_BIND=127.0.0.1:$PORT \
    TELESTATE_ADMIN_USER=$ADMIN_USER TELESTATE_ADMIN_PASSWORD=$ADMIN_PASSWORD \
    TELESTATE_WEB_DIR=$ROOT/frontend/dist \
    TELESTATE_LOG_FORMAT=text TELESTATE_LOG=${TELESTATE_LOG:-warn} \
    "$BIN" demo >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
# The demo seeds its estate and syncs the simulated tenant before it listens.
wait_ready "$BASE" 180
curl -fsS "$BASE/" | grep -q '<script type="module"' || { echo "e2e: $BASE/ does not serve the web app (TELESTATE_WEB_DIR)" >&2; exit 1; }

echo "e2e: testing $BASE" >&2
CHROMIUM=$CHROMIUM interruptible node e2e/tests.mjs "$BASE" "$ADMIN_USER" "$ADMIN_PASSWORD"
echo "e2e: screenshots in e2e/screenshots/" >&2

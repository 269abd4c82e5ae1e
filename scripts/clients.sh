#!/usr/bin/env bash
# Generated clients against the live API: scripts/clients.sh sqlite|postgres
#
# The OpenAPI document is a product surface: integrators generate clients from it. This
# generates the Python client (openapi-python-client) and fails on any warning or skipped
# operation; generates TypeScript types (openapi-typescript) and compiles a typed usage
# file under `tsc --strict`; lints the document (redocly); then starts the server on a fresh
# database and runs clients/smoke.py, which uses only the generated Python client.
# Generated code goes to a temp dir (removed at exit), never into the repo.
# Tools are pinned: Python ones in scripts/bootstrap.sh, JavaScript ones in tools/package.json.
# Env: TELESTATE_BIN (skip the build), CLIENTS_SKIP_LINT=1 (skip redocly).
set -euo pipefail
backend=${1:?usage: $0 sqlite|postgres}
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

SPEC=$ROOT/openapi/openapi.json
NODE_BIN=$ROOT/tools/node_modules/.bin
for tool in "$ROOT/.venv/bin/openapi-python-client" "$NODE_BIN/openapi-typescript" "$NODE_BIN/tsc"; do
    [[ -x $tool ]] || { echo "$tool missing: run scripts/bootstrap.sh" >&2; exit 1; }
done
started=$SECONDS

# --- Python client: no warning, no skipped operation ---
gen=$WORK/gen
mkdir -p "$gen"
# post_hooks is [] in the config: any line of output beyond the banner is a warning.
log=$("$ROOT/.venv/bin/openapi-python-client" generate --path "$SPEC" --meta none \
    --output-path "$gen/telestate_client" --config "$ROOT/clients/python-client.yaml" 2>&1) ||
    { echo "$log" >&2; echo "clients: openapi-python-client failed" >&2; exit 1; }
if grep -v -x -e 'Generating client' -e "Generating $gen/telestate_client" -e '' <<<"$log" | grep -q .; then
    echo "$log" >&2
    echo "clients: openapi-python-client warned (see above); the document must generate cleanly" >&2
    exit 1
fi
# Every operation of the document is a module of the client (a skipped one would be missing).
"$PY" - "$SPEC" "$gen/telestate_client/api" <<'PY'
import json, pathlib, sys
spec, api = json.load(open(sys.argv[1])), pathlib.Path(sys.argv[2])
generated = {p.stem for p in api.glob("*/*.py")}
ops = [o["operationId"] for item in spec["paths"].values() for o in item.values() if isinstance(o, dict) and "operationId" in o]
missing = sorted(set(ops) - generated)
if missing:
    sys.exit(f"clients: operations without generated code: {', '.join(missing)}")
print(f"clients: python client has all {len(ops)} operations", file=sys.stderr)
PY

# --- TypeScript: generated types, a typed usage file under tsc --strict ---
ts=$WORK/ts
mkdir -p "$ts"
"$NODE_BIN/openapi-typescript" "$SPEC" --output "$ts/api.d.ts" >/dev/null 2>"$ts/log" ||
    { cat "$ts/log" >&2; exit 1; }
cp "$ROOT/clients/usage.ts" "$ROOT/clients/tsconfig.json" "$ts/"
"$NODE_BIN/tsc" -p "$ts/tsconfig.json"
echo "clients: TypeScript types compile under --strict" >&2

# --- Lint: redocly's recommended rules, with the exceptions in redocly.yaml ---
if [[ ${CLIENTS_SKIP_LINT:-} != 1 ]]; then
    (cd "$ROOT" && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
        "$NODE_BIN/redocly" lint --config clients/redocly.yaml --format=summary "$SPEC" >"$WORK/lint.log" 2>&1) ||
        { cat "$WORK/lint.log" >&2; echo "clients: redocly lint failed" >&2; exit 1; }
    echo "clients: redocly lint clean" >&2
fi
echo "clients: generated and checked in $((SECONDS - started)) s" >&2

# --- The smoke flow against a live server ---
build_server debug
fresh_db "$backend"
start_server "$(free_port 18180)"
echo "clients: smoke flow on $backend at $BASE" >&2
PYTHONPATH=$gen interruptible "$PY" "$ROOT/clients/smoke.py" "$BASE" "$ADMIN_USER" "$ADMIN_PASSWORD"
echo "clients: $backend done in $((SECONDS - started)) s" >&2

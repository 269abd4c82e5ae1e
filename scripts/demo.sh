#!/usr/bin/env bash
# README command 1: build the web app and the server, then run `telestate demo` — a
# seeded estate on SQLite (data/demo.db) with a simulated Teams tenant — serving the web
# app at http://127.0.0.1:8080/ (TELESTATE_BIND overrides). Installs what the build
# needs when it is missing (Node.js/npm from apt; the wasm target, wasm-bindgen CLI and
# wasm-opt through scripts/frontend.sh). Ctrl-C stops it; the next run keeps the estate.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/telestate-target}

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
if ! command -v npm >/dev/null; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends nodejs npm
fi

scripts/frontend.sh
cargo build --release -p telestate
BIND=${TELESTATE_BIND:-127.0.0.1:8080}
mkdir -p data
echo
echo "Telestate web app: http://$BIND/   log in as ${TELESTATE_ADMIN_USER:-admin} / ${TELESTATE_ADMIN_PASSWORD:-telestate-demo}"
echo
TELESTATE_WEB_DIR=${TELESTATE_WEB_DIR:-$PWD/frontend/dist} TELESTATE_BIND=$BIND \
    exec "$CARGO_TARGET_DIR/release/telestate" demo

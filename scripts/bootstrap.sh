#!/usr/bin/env bash
# Install what tests and benches need on a fresh Debian 12 machine (Rust toolchain assumed).
# Idempotent: every step checks first, so a second run takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so CI and laptops fuzz with the same schemathesis and generate the same clients
# (scripts/clients.sh; python-dateutil is what the generated client imports); bump deliberately.
PY_REQS=(rust-just==1.59.0 schemathesis==4.32.5 openapi-python-client==0.29.1 python-dateutil==2.9.0.post0)

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }

apt_install() {
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    echo "apt: installing $*" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

# --- apt: only what is missing, so an up-to-date machine never touches the network ---
pkgs=()
command -v wrk >/dev/null || pkgs+=(wrk)
command -v pg_ctlcluster >/dev/null || pkgs+=(postgresql)
command -v curl >/dev/null || pkgs+=(curl)
# bench/run.sh compares the CSV export with sqlite3's own CSV output.
command -v sqlite3 >/dev/null || pkgs+=(sqlite3)
command -v python3 >/dev/null || pkgs+=(python3 python3-venv)
# scripts/clients.sh: openapi-typescript, tsc and redocly run on Node (Debian 12's is 18).
command -v npm >/dev/null || pkgs+=(nodejs npm)
# diesel's postgres feature links the system libpq.
pkg-config --exists libpq 2>/dev/null || pkgs+=(libpq-dev pkg-config)
# e2e/run.sh drives Debian's Chromium through playwright-core (never a downloaded browser).
[[ -x /usr/bin/chromium ]] || pkgs+=(chromium)
if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi

# --- python venv: the stamp records what was installed, so pip only runs when the pins change ---
stamp=.venv/.telestate-reqs
if [[ ! -x .venv/bin/python || $(cat "$stamp" 2>/dev/null) != "${PY_REQS[*]}" ]]; then
    # Debian's python3 cannot create a venv until python3-venv is installed.
    python3 -m venv .venv 2>/dev/null || { apt_install python3-venv && python3 -m venv --clear .venv; }
    .venv/bin/pip install -q --disable-pip-version-check "${PY_REQS[@]}"
    echo "${PY_REQS[*]}" >"$stamp"
fi

# --- JavaScript tools for scripts/clients.sh and scripts/frontend.sh (wasm-opt), pinned in tools/package.json and its lock;
# the stamp is the lock's content, so npm only runs when the pins change ---
if [[ ! -x tools/node_modules/.bin/tsc || $(cat tools/node_modules/.telestate-lock 2>/dev/null) != "$(cat tools/package-lock.json)" ]]; then
    (cd tools && npm ci --no-audit --no-fund --loglevel=error)
    cp tools/package-lock.json tools/node_modules/.telestate-lock
fi

# --- the end-to-end tests' driver (e2e/package.json: playwright-core only) ---
if [[ ! -d e2e/node_modules/playwright-core || $(cat e2e/node_modules/.telestate-lock 2>/dev/null) != "$(cat e2e/package-lock.json)" ]]; then
    (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
    cp e2e/package-lock.json e2e/node_modules/.telestate-lock
fi

# --- cargo-nextest: present on the dev image; a fresh machine builds it (a few minutes) ---
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# --- lint tools and the WebAssembly target: `just lint` checks that domain and api-types
# (what the web app shares with the server) still compile for the browser ---
if command -v rustup >/dev/null; then
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
fi
# The web app's wasm-bindgen CLI must equal the crate in frontend/Cargo.lock (about 4 min
# to build once; no --locked: its own lock pins a webpki-roots the index no longer has).
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' frontend/Cargo.lock)
[[ $(wasm-bindgen --version 2>/dev/null) == "wasm-bindgen $WB_VERSION" ]] || cargo install wasm-bindgen-cli --version "$WB_VERSION"

scripts/pg-up.sh
echo "bootstrap: ok" >&2

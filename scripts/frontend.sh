#!/usr/bin/env bash
# Build the web app into frontend/dist: the wasm-release build, wasm-bindgen, wasm-opt,
# content-hashed file names (so `telestate serve` can cache them forever) and an
# index.html with no inline script or style (the server's CSP forbids both).
# Idempotent: installs the wasm target, the matching wasm-bindgen CLI and npm binaryen
# when missing, and does nothing when no input changed since the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/telestate-target}
DIST=$ROOT/frontend/dist

# --- inputs: every file the bundle is made from; the stamp in dist/ records their hash ---
inputs_hash() {
    {
        find frontend/src frontend/static crates/api-types/src crates/domain/src -type f -print0 | sort -z | xargs -0 sha256sum
        sha256sum frontend/Cargo.toml frontend/Cargo.lock frontend/index.html \
            crates/api-types/Cargo.toml crates/domain/Cargo.toml Cargo.toml scripts/frontend.sh
    } | sha256sum | cut -c1-64
}
print_sizes() {
    local total=0 btotal=0 f n b
    echo "bundle (as sent: gzip -9 / brotli):" >&2
    for f in "$DIST"/*.wasm "$DIST"/*.js "$DIST"/*.css; do
        n=$(wc -c <"$f.gz")
        b=$(wc -c <"$f.br")
        total=$((total + n))
        btotal=$((btotal + b))
        printf '  %-34s %8d bytes raw %8d gzip %8d brotli\n' "$(basename "$f")" "$(wc -c <"$f")" "$n" "$b" >&2
    done
    printf '  %-34s %21d gzip %8d brotli (budget 512000 gzip)\n' total "$total" "$btotal" >&2
}
hash=$(inputs_hash)
if [[ -f $DIST/index.html && $(cat "$DIST/.inputs" 2>/dev/null) == "$hash" ]]; then
    echo "frontend: up to date ($DIST)" >&2
    print_sizes
    exit 0
fi

# --- tools, each only when missing or of the wrong version ---
if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
fi
# The CLI must equal the wasm-bindgen crate in frontend/Cargo.lock, or its output does
# not load. No --locked: the CLI's own lock pins a webpki-roots the index no longer has.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' frontend/Cargo.lock)
if [[ $(wasm-bindgen --version 2>/dev/null) != "wasm-bindgen $WB_VERSION" ]]; then
    echo "frontend: installing wasm-bindgen-cli $WB_VERSION (about 4 minutes)" >&2
    cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi
# npm binaryen (pinned in tools/package.json): Debian's binaryen 108 corrupts
# wasm-bindgen 0.2.130 output (stack-notes §5a), so never the one on PATH.
WASM_OPT=$ROOT/tools/node_modules/.bin/wasm-opt
if [[ ! -x $WASM_OPT ]]; then
    (cd tools && npm ci --no-audit --no-fund --loglevel=error)
    cp tools/package-lock.json tools/node_modules/.telestate-lock
fi

# --- build ---
started=$(date +%s)
# Leptos' type erasure: every view closure and component resolves to one type instead of
# one per call site, so far less code is monomorphised (a smaller bundle, a faster build).
# Only for the wasm target, so the server's builds are untouched.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--cfg erase_components"
cargo build --manifest-path frontend/Cargo.toml --profile wasm-release --target wasm32-unknown-unknown
OUT=$(mktemp -d "${TMPDIR:-/var/tmp}/telestate-web.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$OUT/bg" \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"
# Plain -Os reads the features from the module; --all-features breaks it (stack-notes §5a).
# Measured on this app (gzip -9 / brotli of the wasm, against plain -Oz): -Os is larger raw
# (+3 %) but 1.1 KB smaller gzipped and 2.7 KB as brotli (less inlining is not less text
# to compress); --low-memory-unused −3.3 KB gzip: addresses below 1 KB are never used,
# since the stack sits below the data and grows down from 1 MB (`--stack-first`), so
# binaryen may fold constant offsets into loads and stores; the producers and
# target-features sections are not needed at run time (−0.2 KB).
"$WASM_OPT" -Os --low-memory-unused --strip-producers --strip-target-features \
    "$OUT/bg/frontend_bg.wasm" -o "$OUT/opt.wasm"

# --- content-hashed names: name-<16 hex>.ext is what the server caches as immutable ---
h16() { sha256sum "$1" | cut -c1-16; }
NEW=$OUT/dist
mkdir -p "$NEW"
wasm=frontend-$(h16 "$OUT/opt.wasm").wasm
cp "$OUT/opt.wasm" "$NEW/$wasm"
js=frontend-$(h16 "$OUT/bg/frontend.js").js
cp "$OUT/bg/frontend.js" "$NEW/$js"
[[ -d $OUT/bg/snippets ]] && cp -r "$OUT/bg/snippets" "$NEW/"
css=style-$(h16 frontend/static/style.css).css
cp frontend/static/style.css "$NEW/$css"
# The boot module replaces an inline <script>: it loads the glue and the hashed wasm.
printf "import init from '/%s';\ninit({ module_or_path: '/%s' });\n" "$js" "$wasm" >"$OUT/boot.js"
boot=boot-$(h16 "$OUT/boot.js").js
cp "$OUT/boot.js" "$NEW/$boot"
sed -e "s|{{css}}|/$css|g" -e "s|{{boot}}|/$boot|g" -e "s|{{js}}|/$js|g" -e "s|{{wasm}}|/$wasm|g" \
    frontend/index.html >"$NEW/index.html"
# Precompressed siblings: the server sends `name.br` / `name.gz` to clients that accept
# them (crates/api/src/webapp.rs), so no request pays for compression. Brotli through
# Node's zlib, which wasm-opt already needs (no extra package).
for f in "$NEW"/*.wasm "$NEW"/*.js "$NEW"/*.css; do
    gzip -9 -k -n "$f"
done
node -e '
const fs = require("fs"), zlib = require("zlib");
for (const f of process.argv.slice(1)) {
  fs.writeFileSync(f + ".br", zlib.brotliCompressSync(fs.readFileSync(f), {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: fs.statSync(f).size } }));
}' "$NEW"/*.wasm "$NEW"/*.js "$NEW"/*.css
echo "$hash" >"$NEW/.inputs"

# Swap in whole, so a running server never serves a half-written dist.
rm -rf "$DIST.old"
[[ -d $DIST ]] && mv "$DIST" "$DIST.old"
mv "$NEW" "$DIST"
rm -rf "$DIST.old"
echo "frontend: built $DIST in $(($(date +%s) - started)) s" >&2
print_sizes

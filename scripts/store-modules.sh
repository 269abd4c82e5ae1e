#!/usr/bin/env bash
# Prints the `crate::<module>` edges between crates/store's top-level modules and exits
# non-zero when they form a cycle. A module is a file `src/<m>.rs` or a folder `src/<m>/`
# (its files count as one module). Names re-exported at the crate root (`crate::Conn`)
# count as edges to the module they come from. Items under `#[cfg(test)]` are left out:
# a module's own tests may reach the test harness (`crate::testing`) and whatever module
# states what they check, which layers nothing. Usage: scripts/store-modules.sh [src dir]
set -euo pipefail
src="${1:-$(dirname "$0")/../crates/store/src}"
exec python3 - "$src" <<'PY'
import os, re, sys

src = sys.argv[1]
files = {}  # module -> list of paths
for entry in sorted(os.listdir(src)):
    path = os.path.join(src, entry)
    if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
        files.setdefault(entry[:-3], []).append(path)
    elif os.path.isdir(path):
        for root, _, names in os.walk(path):
            files.setdefault(entry, []).extend(
                os.path.join(root, n) for n in sorted(names) if n.endswith(".rs"))

def code(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return without_tests(text)

def without_tests(text):
    """`text` less every item after `#[cfg(test)]`: up to its `;`, or its `{ ... }`."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        j, depth = m.end(), 0
        while j < len(text):
            c = text[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif c == ";" and depth == 0:
                j += 1
                break
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)

# Root re-exports: `pub use db::{Conn, Db};` makes `crate::Conn` an edge to `db`.
root = {}
lib = code(os.path.join(src, "lib.rs"))
for m in re.finditer(r"pub\s+use\s+(\w+)::(\{[^}]*\}|\w+)", lib):
    for name in re.findall(r"\w+", m.group(2)):
        root[name] = m.group(1)

def targets(text):
    """Top-level names reached through `crate::`, including `use crate::{a, b::c}`."""
    out = set()
    for m in re.finditer(r"\bcrate::", text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth, j, tok = 0, i, ""
            while j < len(text):
                c = text[j]
                if c == "{":
                    if depth == 1 and tok:
                        out.add(tok)
                    depth += 1; tok = ""
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif depth == 1 and (c.isalnum() or c == "_"):
                    tok += c
                elif depth == 1 and c in ",:":
                    if tok:
                        out.add(tok)
                    tok = ""
                    if c == ":":
                        # skip the rest of this path up to the next top-level comma
                        k, d = j, 1
                        while k < len(text):
                            if text[k] == "{": d += 1
                            elif text[k] == "}":
                                d -= 1
                                if d == 0: break
                            elif text[k] == "," and d == 1: break
                            k += 1
                        j = k - 1 if text[k] == "}" else k
                elif depth == 1 and c.isspace():
                    pass
                j += 1
        else:
            w = re.match(r"\w+", text[i:])
            if w:
                out.add(w.group(0))
    return out

edges = {}
for mod, paths in files.items():
    deps = set()
    for p in paths:
        for name in targets(code(p)):
            name = root.get(name, name)
            if name in files and name != mod:
                deps.add(name)
    edges[mod] = sorted(deps)

for mod in sorted(edges):
    for dep in edges[mod]:
        print(f"{mod} -> {dep}")

# Cycle search: depth-first, reporting every back edge's cycle.
state, stack, cycles = {}, [], []
def visit(m):
    state[m] = 1; stack.append(m)
    for d in edges[m]:
        if state.get(d) == 1:
            cycles.append(stack[stack.index(d):] + [d])
        elif d not in state:
            visit(d)
    stack.pop(); state[m] = 2
for m in sorted(edges):
    if m not in state:
        visit(m)
if cycles:
    for c in cycles:
        print("cycle: " + " -> ".join(c), file=sys.stderr)
    sys.exit(1)
print(f"no cycle among {len(edges)} modules", file=sys.stderr)
PY

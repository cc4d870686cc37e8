#!/usr/bin/env bash
# Builds tools/xfer-ab/main.rs against three nvdx builds: BEFORE and PREV (git revisions,
# copied out of the repository and renamed nvdx-before / nvdx-prev with their nvdx-sys) and the
# working tree's nvdx, in a scratch folder outside the workspace (a path dependency inside the
# workspace would become a member of it). Prints the stripped binary's path.
# Usage, from anywhere in the repository: bash tools/xfer-ab/build.sh [OUT] [BEFORE] [PREV]
set -euo pipefail
root=$(git rev-parse --show-toplevel)
out=${1:-$root/target/xfer-ab}
before=${2:-b5ad378}
prev=${3:-fe0f17f}
work=${XFER_AB_WORK:-/tmp/xfer-ab-build}
mkdir -p "$work"
for v in before prev; do
  rev=$before; [ $v = prev ] && rev=$prev
  dst="$work/v_$v"
  if [ "$(cat "$dst/.rev" 2>/dev/null)" != "$(git -C "$root" rev-parse "$rev")" ]; then
    rm -rf "$dst"; mkdir -p "$dst"
    git -C "$root" archive "$rev" nvdx nvdx-sys README.md Cargo.toml | tar x -C "$dst"
    python3 - "$dst" "$v" <<'PY'
import re, sys
dst, v = sys.argv[1], sys.argv[2]
root = open(f"{dst}/Cargo.toml").read()
# Only the [workspace*] sections: the root package (tests, benches) is not needed.
keep = [p for p in re.split(r"(?m)^(?=\[)", root) if p.startswith("[workspace")]
out = "".join(keep)
out = re.sub(r"members = \[.*?\]", 'members = ["nvdx-sys", "nvdx"]', out)
out = re.sub(r'(?m)^nvdx-sys = \{ path = "nvdx-sys", version = "([^"]+)" \}',
             rf'nvdx-sys = {{ path = "nvdx-sys", version = "\1", package = "nvdx-sys-{v}" }}', out)
out = re.sub(r'(?m)^nvdx = \{ path = "nvdx".*\}\n', "", out)
open(f"{dst}/Cargo.toml", "w").write(out)
for d in ("nvdx", "nvdx-sys"):
    p = f"{dst}/{d}/Cargo.toml"
    t = open(p).read()
    t = t.replace(f'name = "{d}"', f'name = "{d}-{v}"', 1)
    open(p, "w").write(t)
PY
    git -C "$root" rev-parse "$rev" > "$dst/.rev"
  fi
done
mkdir -p "$work/harness/src"
cp "$root/tools/xfer-ab/main.rs" "$work/harness/src/main.rs"
cat > "$work/harness/Cargo.toml" <<TOML
[package]
name = "xfer-ab"
version = "0.1.0"
edition = "2021"
publish = false
[workspace]
[dependencies]
nvdx_before = { package = "nvdx-before", path = "$work/v_before/nvdx" }
nvdx_prev = { package = "nvdx-prev", path = "$work/v_prev/nvdx" }
nvdx = { path = "$root/nvdx" }
[profile.release]
strip = "debuginfo"
TOML
(cd "$work/harness" && XFER_AB_BEFORE="$before" XFER_AB_PREV="$prev" \
  CARGO_TARGET_DIR="$work/target" cargo build --release -q)
mkdir -p "$(dirname "$out")"
cp "$work/target/release/xfer-ab" "$out" && strip "$out"
echo "$out"

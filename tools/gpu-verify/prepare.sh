#!/usr/bin/env bash
# Prepares the git-ignored folders that travel to the GPU host (the device tool's `carry`):
#   .gpudata/  the test bundle (xz), the scripts of this folder, the conformance streams and
#              benchmark clips, the nvdx wheel, the decode bench built with `--features profile`,
#              the benches of a BEFORE commit (default b5ad378, the base of issue 12's
#              before/after tables; their CPU clock patched to getrusage as the later benches),
#              xfer-ab (tools/xfer-ab: BEFORE, PREV and the working tree in one process), and
#              dbg/ (a crash reporter, segv.c, and the sampler bench unstripped);
#   .gpuconf/  the H.264 conformance streams (for suite.sh);
#   .gpupy/    PyNvVideoCodec's wheel (26 MB: carry it for the peer runs, without .gpuconf: 64 MiB
#              travel in all).
# Usage, from the repository root: bash tools/gpu-verify/prepare.sh [SHARED_DIR]
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
shared=${1:-$root/../shared}
before=${BEFORE:-b5ad378}
mkdir -p .git/info
for d in /.gpu/ /.gpudata/ /.gpupy/ /.gpuconf/; do grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
cargo xtask gpu-bundle .gpu
mkdir -p .gpudata .gpupy
rm -f .gpudata/after.tar.xz && tar cJf .gpudata/after.tar.xz .gpu
cp tools/gpu-verify/*.sh tools/gpu-verify/*.py .gpudata/
# clock-check.sh's measurement, built static (the GPU host may lack a compiler).
sed -n '/^cat > "\$d\/c.c"/,/^C$/p' tools/gpu-verify/clock-check.sh | sed '1d;$d' > /tmp/nvdx-clockcost.c
gcc -O2 -static -o .gpudata/clockcost /tmp/nvdx-clockcost.c
rm -rf .gpudata/media .gpuconf
cp -r "$shared/media" .gpudata/media
cp -r "$shared/conformance" .gpuconf
# The decode bench with thread CPU per stage.
exe=$(cargo bench --no-run --bench decode --features profile --message-format=json-render-diagnostics 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    try: j=json.loads(l)
    except Exception: continue
    if j.get("reason")=="compiler-artifact" and j.get("executable"): print(j["executable"])' | tail -1)
mkdir -p .gpudata/prof && cp "$exe" .gpudata/prof/bench-decode && strip .gpudata/prof/bench-decode
# A crash reporter and an unstripped sampler bench (the same build as the bundle's), for
# sample-ab.sh with SAMPLE_AB_PRELOAD / SAMPLE_AB_AFTER: one sampler run in 30 died of SIGSEGV
# on the H200 (eighth session) and did not recur in 24 more.
mkdir -p .gpudata/dbg && gcc -O1 -shared -fPIC -o .gpudata/dbg/libsegv.so tools/gpu-verify/segv.c
exe=$(cargo bench --no-run --bench sample --message-format=json-render-diagnostics 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    try: j=json.loads(l)
    except Exception: continue
    if j.get("reason")=="compiler-artifact" and j.get("executable"): print(j["executable"])' | tail -1)
cp "$exe" .gpudata/dbg/bench-sample
# The wheel (needs maturin: python3 -m venv /tmp/mvenv && /tmp/mvenv/bin/pip install "maturin>=1.7,<2").
maturin=${MATURIN:-$(command -v maturin || echo /tmp/mvenv/bin/maturin)}
rm -rf .gpudata/wheels && "$maturin" build --release -m nvdx-py/Cargo.toml -o .gpudata/wheels
# The benches of the BEFORE commit, built in a worktree (getrusage for their CPU clock).
if [ ! -x target/gpu-before/bench-decode ]; then
  wt=/tmp/nvdx-before-$before
  [ -d "$wt" ] || git worktree add -f "$wt" "$before"
  python3 - "$wt" <<'PY'
import re, sys
wt = sys.argv[1]
new = '''fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given and has no other effect.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
'''
for p in ("benches/decode.rs", "benches/sample.rs"):
    s = open(f"{wt}/{p}").read()
    if "getrusage" not in s:
        s = re.sub(r"fn cpu_seconds\(\) -> f64 \{.*?\n\}\n", new, s, count=1, flags=re.S)
        open(f"{wt}/{p}", "w").write(s)
c = open(f"{wt}/Cargo.toml").read()
if 'libc = "0.2"' not in c:
    c = c.replace("[dev-dependencies]", '[dev-dependencies]\nlibc = "0.2"', 1)
    open(f"{wt}/Cargo.toml", "w").write(c)
PY
  mkdir -p target/gpu-before
  (cd "$wt" && CARGO_TARGET_DIR="$root/target" cargo bench --no-run --bench colour --bench sample --bench xfer --bench decode \
      --message-format=json-render-diagnostics 2>/dev/null) | python3 -c 'import json,sys
for l in sys.stdin:
    try: j=json.loads(l)
    except Exception: continue
    if j.get("reason")=="compiler-artifact" and j.get("executable"): print(j["target"]["name"], j["executable"])' \
    | while read -r name exe; do cp "$exe" "target/gpu-before/bench-$name"; strip "target/gpu-before/bench-$name"; done
fi
# xfer_host_cost (host time of one send + drop) of BEFORE and of the working tree, for
# xfer-host-cost.sh: the example is this tree's, built against each library.
wt=/tmp/nvdx-before-$before
[ -d "$wt" ] || git worktree add -f "$wt" "$before"
cp examples/xfer_host_cost.rs "$wt/examples/"
mkdir -p .gpudata/xhc
(cd "$wt" && CARGO_TARGET_DIR="$root/target/before-ex" cargo build -q --release --example xfer_host_cost)
cp "$root/target/before-ex/release/examples/xfer_host_cost" .gpudata/xhc/before
cargo build -q --release --example xfer_host_cost && cp target/release/examples/xfer_host_cost .gpudata/xhc/after
strip .gpudata/xhc/before .gpudata/xhc/after
# Packed (4 MB less to carry); common.sh unpacks it on the GPU host.
rm -rf .gpudata/before && tar cJf .gpudata/before.tar.xz -C target/gpu-before .
# The transfer rows of BEFORE, PREV and the working tree in one process (tools/xfer-ab). PREV
# defaults to HEAD: with a clean tree that is the working tree's own library as a second crate,
# an A/A twin whose column shows what the method cannot resolve (code placement, the process).
bash tools/xfer-ab/build.sh .gpudata/xfer-ab "$before" "${PREV:-$(git rev-parse --short HEAD)}" >/dev/null
# PyNvVideoCodec for the peer runs.
ls .gpupy/pynvvideocodec-*.whl >/dev/null 2>&1 || bash "$shared/peers/get-peer-wheels.sh" .gpupy
cp "$shared/peers/decode_peers.py" .gpudata/decode_peers.py
du -sh .gpudata .gpuconf .gpupy

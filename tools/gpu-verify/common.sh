# Sourced by the scripts of tools/gpu-verify on the GPU host (they run from .gpudata/, next to
# .gpuconf/ and .gpupy/ when carried): unpacks the bundle, sets the data variables, $O (the
# device tool's $OUT) and a clock.
set -u
D="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; R="$(cd "$D/.." && pwd)"
O="${OUT:-/tmp/out}"; mkdir -p "$O"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
mkdir -p /tmp/w && { [ -d /tmp/w/.gpu ] || (cd /tmp/w && tar xJf "$D/after.tar.xz"); }
G=/tmp/w/.gpu
# The BEFORE commit's benches (prepare.sh packs them).
B=/tmp/w/before; [ -f "$D/before.tar.xz" ] && [ ! -d "$B" ] && mkdir -p "$B" && tar xJf "$D/before.tar.xz" -C "$B"
export NVDX_FIXTURES_DIR="$G/fixtures" NVDX_MEDIA_DIR="$D/media"
[ -d "$R/.gpuconf/h264" ] && export NVDX_CONFORMANCE_DIR="$R/.gpuconf/h264"
start=$(date +%s); el() { echo "[$(( $(date +%s) - start ))s]"; }
site() { # installs the wheels found in $@ into /tmp/site once; prints PYTHONPATH
  mkdir -p /tmp/site; for w in "$@"; do [ -f "$w" ] && python3 -m pip install -q --no-index --no-deps --target /tmp/site "$w" >/dev/null 2>&1; done; echo /tmp/site; }

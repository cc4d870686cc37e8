#!/usr/bin/env bash
# The whole GPU suite (run.sh, with NVDX_CONTEXT_CYCLES=1000 unless set), then decode:: and
# sample:: again with their printed figures, then the Python tests. Carry .gpudata and .gpuconf.
# About 6 minutes on an H200.
source "$(dirname "$0")/common.sh"
[ -n "${NVDX_CONFORMANCE_DIR:-}" ] || echo "no .gpuconf/h264: the conformance test will fail"
NVDX_CONTEXT_CYCLES="${NVDX_CONTEXT_CYCLES:-1000}" timeout 480 bash "$G/run.sh" > "$O/suite.log" 2>&1; echo "run.sh rc=$? $(el)"
grep -E "^SUMMARY|cycles in|NVENC double\] (round trip|encode_copy)|cudarc kernel with|FAILED|panicked" "$O/suite.log" | head -30
timeout 100 "$G/bin/test-gpu" --include-ignored --nocapture --test-threads=1 decode:: sample:: > "$O/decode-sample.log" 2>&1; echo "decode/sample rc=$? $(el)"
grep -E "conformance:|MPEG-2/MJPEG|lowest PSNR|not decodable|Unsupported|^test result" "$O/decode-sample.log" | head -20
PYTHONPATH=$(site "$D"/wheels/nvdx-*.whl) timeout 120 python3 -m pytest -q "$R/nvdx-py/tests" > "$O/pytest.log" 2>&1; echo "pytest rc=$? $(el)"; tail -2 "$O/pytest.log"

#!/usr/bin/env bash
# Host time of one Transfer::send + drop (examples/xfer_host_cost), BEFORE and the working
# tree alternated in separate processes: staged (pinned host ring), copy engine, SM kernel.
# Usage on the GPU host: bash .gpudata/xfer-host-cost.sh [ROUNDS]   (about 10 s a round)
source "$(dirname "$0")/common.sh"
for r in $(seq "${1:-3}"); do for m in staged ce sm; do for b in before after; do
  echo -n "$b r$r "; timeout 60 "$D/xhc/$b" "$m" 20000 || echo "rc=$?"
done; done; done

#!/usr/bin/env bash
# What a clock read costs on this host: the kernel's clock source (a vDSO path or a system
# call) and the cost of one monotonic and one thread-CPU clock read, measured in C.
# Usage on the GPU host: bash .gpudata/clock-check.sh
set -u
cs=/sys/devices/system/clocksource/clocksource0
echo "clock source: $(cat $cs/current_clocksource 2>/dev/null) (available: $(cat $cs/available_clocksource 2>/dev/null))"
d=$(mktemp -d)
cat > "$d/c.c" <<'C'
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  struct timespec t; const int n = 2000000;
  clockid_t ids[2] = {CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID}; const char* names[2] = {"CLOCK_MONOTONIC", "CLOCK_THREAD_CPUTIME_ID"};
  for (int k = 0; k < 2; k++) { double best = 1e9;
    for (int r = 0; r < 3; r++) { double t0 = now(); for (int i = 0; i < n; i++) clock_gettime(ids[k], &t); double ns = (now() - t0) * 1e9 / n; if (ns < best) best = ns; }
    printf("%s: %.1f ns a read (best of 3 x %d)\n", names[k], best, n); }
  return 0; }
C
# prepare.sh carries a static build as clockcost; else build it here.
if [ -x "$(dirname "$0")/clockcost" ]; then "$(dirname "$0")/clockcost"
elif command -v gcc >/dev/null; then gcc -O2 -o "$d/c" "$d/c.c" && "$d/c"; else echo "no gcc"; fi

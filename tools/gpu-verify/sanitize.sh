#!/usr/bin/env bash
# compute-sanitizer memcheck, racecheck and initcheck over the bundle's lifetime-relevant tests,
# the whole log kept. Carry .gpudata. About 4.5 minutes on an H200.
source "$(dirname "$0")/common.sh"
for tool in memcheck racecheck initcheck; do
  timeout 200 bash "$G/sanitize.sh" "$tool" > "$O/sanitize-$tool.log" 2>&1; echo "$tool rc=$? $(el)"
  grep -E "^test result|ERROR SUMMARY|RACECHECK SUMMARY|SANITIZE" "$O/sanitize-$tool.log" | tail -3
done

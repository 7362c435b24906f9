#!/usr/bin/env bash
# Runs ./scripts/test N times in a row (default 10) in a fresh clone of this repository's HEAD, the first on a cold
# build, and prints one line per run: PASS or FAIL, its duration, and the debug and release suites' summaries
# (issue 23: "10 consecutive green runs from a fresh clone, the first included"). Logs stay in $WORK/run-K.log.
#
#   scripts/measure/consecutive_runs.sh [N] [WORK]     # WORK defaults to a new directory under /tmp
set -euo pipefail
count=${1:-10}
work=${2:-$(mktemp -d /tmp/wisp-runs-XXXXXX)}
root=$(cd "$(dirname "$0")/../.." && pwd)
git clone -q "$root" "$work/clone"
cd "$work/clone"
echo "clone of $(git log --oneline -1) in $work/clone"
failures=0
for run in $(seq 1 "$count"); do
  started=$(date +%s)
  if CI=true ./scripts/test </dev/null >"$work/run-$run.log" 2>&1; then result=PASS; else result=FAIL; failures=$((failures + 1)); fi
  # A run killed before its summary has none: `|| true`, or `set -e` would end the whole loop here (it did).
  summary=$(grep -E "Test run with" "$work/run-$run.log" | tail -2 | tr '\n' ' ' || true)
  echo "run $run: $result in $(($(date +%s) - started)) s; $summary"
done
exit $((failures > 0))

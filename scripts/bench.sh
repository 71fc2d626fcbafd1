#!/usr/bin/env bash
# Run the benchmark suite and regenerate its report (benchmarks/results/REPORT.md, results.json, charts).
#
#   scripts/bench.sh [--sizes 1000000,10000000,100000000] [--only etl,tuned,duckdb,naive,als,reader] [--data DIR]
#
# Hours at the default sizes on 2 cores (the 100M-event day dominates); --only re-runs sections and
# keeps the rest of results.json. Generated data is kept under --data (default /tmp/ecomlake-bench-data).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$("$repo/scripts/setup.sh" --dev --dl --bench)"
cd "$repo"
# This clone's code first (as scripts/test.sh), even if another clone re-pointed the shared environment meanwhile;
# every benchmark process (python -m benchmarks.<name>, started from here) inherits it.
export PYTHONPATH="$repo/libs${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m benchmarks.run_all "$@"

#!/usr/bin/env bash
# Submit an ecomlake job with spark-submit, setting this machine up first if needed.
#
#   scripts/submit.sh [--conf FILE] [--set KEY=VALUE]... [--dry-run] [--packages] <job> [job flags]
#
# e.g.  ECOMLAKE_SPARK_MASTER=spark://127.0.0.1:7077 scripts/submit.sh --conf conf/local.yaml pipeline --date 2019-10-01
#
# Master, deploy mode and executor sizing come from the config (spark.master, spark.deploy_mode,
# spark.executor_memory, ...) or the environment (ECOMLAKE_SPARK_MASTER, ECOMLAKE_DEPLOY_MODE,
# ECOMLAKE_EXECUTOR_MEMORY, ECOMLAKE_EXECUTOR_CORES, ECOMLAKE_NUM_EXECUTORS, ECOMLAKE_TOTAL_EXECUTOR_CORES).
# SPARK_HOME selects a cluster's own Spark 4.0 (default: the pip-installed one). The exit code is the
# job's (0 ok, 2 config, 3 input missing, 4 data quality, 5 step failed). See `ecomlake submit --help`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
extras=()
for arg in "$@"; do
  case "$arg" in
    train-lstm|score-lstm) extras=(--dl) ;;  # the driver builds the model with torch
  esac
done
python="$("$here/setup.sh" "${extras[@]}")"
export PYTHONPATH="$(dirname "$here")/libs${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m ecomlake submit "$@"

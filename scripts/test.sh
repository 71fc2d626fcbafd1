#!/usr/bin/env bash
# Run the checks: ruff, mypy (strict on libs/ecomlake, settings in pyproject.toml), then the default test suite
# (other tiers: -m cluster, -m slow; see README).
#   scripts/test.sh [pytest args]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$("$repo/scripts/setup.sh" --dev --dl)"  # the tests train the LSTM with torch, petastorm and horovod
cd "$repo"
# This clone's code first, even if another clone re-pointed the shared environment meanwhile.
export PYTHONPATH="$repo/libs${PYTHONPATH:+:$PYTHONPATH}"
"$python" -m ruff check libs jobs tests benchmarks scripts setup.py
"$python" -m ruff format --check libs jobs tests benchmarks scripts setup.py
# The type check's cache lives with the environments, outside the clone: a fresh clone starts warm.
MYPY_CACHE_DIR="${ECOMLAKE_CACHE:-$HOME/.cache/ecomlake}/mypy" "$python" -m mypy
exec "$python" -m pytest "$@"

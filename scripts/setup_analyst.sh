#!/usr/bin/env bash
# Set up the analysts' Spark-free environment (DuckDB on the Delta tables); idempotent, prints its python.
#
#   scripts/setup_analyst.sh
#
# A virtualenv OUTSIDE the clone keyed by the hash of requirements/analyst.txt:
# $ECOMLAKE_CACHE/analyst-<hash>, with those pins (deltalake, duckdb, a current pyarrow), installed
# with --require-hashes (every file's sha256 is in the requirements file), and this clone's libs/ on
# its path (the package without its Spark dependencies). No Java needed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ECOMLAKE_CACHE:-$HOME/.cache/ecomlake}"
say() { echo "setup_analyst: $*" >&2; }
source "$repo/scripts/lib/python311.sh"  # sets $python
key=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$repo/requirements/analyst.txt" | sha256sum | cut -c1-12)  # the pins only, not the comments
venv="$cache/analyst-$key"
mkdir -p "$cache"
exec 9>"$cache/setup_analyst.lock"
flock 9
if [[ ! -f "$venv/.installed" ]]; then
  say "creating $venv"
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --require-hashes -r "$repo/requirements/analyst.txt" >&2
  touch "$venv/.installed"
fi
expected="$repo/libs/ecomlake/__init__.py"
# -I: what the environment finds by itself, not through a PYTHONPATH of the caller's (scripts/test.sh sets one).
actual=$(cd / && "$venv/bin/python" -I -c 'import ecomlake; print(ecomlake.__file__)' 2>/dev/null || true)
if [[ "$actual" != "$expected" ]]; then
  # This clone's libs/ on the path (a .pth file): the package without its Spark dependencies.
  echo "$repo/libs" >"$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')/ecomlake.pth"
fi
echo "$venv/bin/python"

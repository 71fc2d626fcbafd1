#!/usr/bin/env bash
# Set up ecomlake on this machine; idempotent and safe to re-run (seconds when nothing changed).
#
#   scripts/setup.sh [--dev] [--dl] [--bench]   prints the path of the environment's python on stdout
#                                        (--dl: torch, petastorm and horovod, for the LSTM jobs;
#                                         --bench: the libraries the benchmarks compare against)
#
# - checks Java (Spark 4.0 needs 17 or 21) and Python 3.11;
# - creates or reuses a virtualenv OUTSIDE the clone, keyed by the hash of requirements/*.txt:
#   $ECOMLAKE_CACHE/venv-<hash> (ECOMLAKE_CACHE defaults to ~/.cache/ecomlake), so every clone and
#   every CI run with the same pins shares one environment and torch is installed once;
# - installs the pinned requirements (base, plus dev/dl extras on request) with --require-hashes:
#   every file pip downloads must have a sha256 listed in requirements/*.txt (scripts/lock_hashes.py
#   writes them); then this clone's package in editable mode;
# - resolves Delta Lake's jars from Maven Central once into $ECOMLAKE_CACHE/jars, so later
#   sessions and tests start offline.
# - with --dl, builds or reuses Horovod (scripts/install_horovod.sh, which caches its wheel).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ECOMLAKE_CACHE:-$HOME/.cache/ecomlake}"
extras=(build base)
for arg in "$@"; do
  case "$arg" in
    --dev) extras+=(dev) ;;
    --dl) extras+=(dl) ;;
    --bench) extras+=(bench) ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --dev, --dl, --bench)" >&2; exit 2 ;;
  esac
done
say() { echo "setup: $*" >&2; }
start=$(date +%s)

# Java: Spark 4.0 runs on 17 or 21.
if ! command -v java >/dev/null 2>&1; then
  say "java not found: install OpenJDK 17 (e.g. apt-get install openjdk-17-jre-headless) and re-run"; exit 2
fi
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [[ "$java_major" != 17 && "$java_major" != 21 ]]; then
  say "Java $java_major found; Spark 4.0 needs Java 17 or 21"; exit 2
fi

# Python 3.11 (the pins are tested on it).
source "$repo/scripts/lib/python311.sh"  # sets $python

# The pins without comments and blank lines: editing a comment does not rebuild the environment.
key=$(cat "$repo"/requirements/{base,build,dev,dl,bench}.txt | sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' | sha256sum | cut -c1-12)  # the analysts' environment has its own (setup_analyst.sh)
venv="$cache/venv-$key"
mkdir -p "$cache"
exec 9>"$cache/setup.lock"
flock 9  # one setup at a time per machine: concurrent CI runs share the environment

if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi
for extra in "${extras[@]}"; do
  if [[ ! -f "$venv/.installed-$extra" ]]; then
    say "installing requirements/$extra.txt into $venv"
    # --no-build-isolation: an sdist (pyspark's) builds with build.txt's hash-checked setuptools, not
    # with build tools pip would fetch unchecked into an isolated environment.
    "$venv/bin/python" -m pip install --quiet --require-hashes --no-build-isolation -r "$repo/requirements/$extra.txt" >&2
    touch "$venv/.installed-$extra"
  fi
done

# Horovod for the LSTM jobs: a patched source build, cached as a wheel (scripts/install_horovod.sh).
if [[ " ${extras[*]} " == *" dl "* && ! -f "$venv/.installed-horovod" ]]; then
  say "installing horovod into $venv (scripts/install_horovod.sh; a source build the first time on this machine)"
  PYTHON="$venv/bin/python" bash "$repo/scripts/install_horovod.sh" >&2
  touch "$venv/.installed-horovod"
fi

# This clone's package, editable; re-pointed when another clone set the environment up last.
expected="$repo/libs/ecomlake/__init__.py"
actual=$(cd / && "$venv/bin/python" -I -c 'import ecomlake; print(ecomlake.__file__)' 2>/dev/null || true)
if [[ "$actual" != "$expected" ]]; then
  say "installing the ecomlake package from $repo (editable)"
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$repo" >&2
fi

# Delta's jars, once per machine.
if ! "$venv/bin/python" -c 'import sys; from ecomlake.config import load_config; from ecomlake.session import cached_delta_jars; sys.exit(cached_delta_jars(load_config(None).spark) is None)'; then
  say "resolving Delta Lake jars from Maven Central into $cache/jars"
  "$venv/bin/python" -m ecomlake jars --quiet >&2
fi

elapsed=$(( $(date +%s) - start ))
[[ $elapsed -lt 2 ]] || say "ready in ${elapsed}s: $venv (extras: ${extras[*]})"
echo "$venv/bin/python"

#!/usr/bin/env bash
# Build and install horovod 0.28.1 (PyTorch + Gloo) into the active Python. Opt-in, idempotent.
#
# Why a patched source build: 0.28.1 (June 2023) is horovod's last release and it compiles with
# C++14, while torch >= 2.1 headers need C++17 ("C++17 or later compatible compiler is required").
# The upstream fix (horovod PR #3998) was never released, so we take the PyPI sdist and change
# set(CMAKE_CXX_STANDARD 14) to 17 in CMakeLists.txt and horovod/torch/CMakeLists.txt.
# See docs/stack.md for what was verified with this build.
#
# Usage (needs a C++ compiler, the system cmake 3.x, and torch from requirements/dl.txt):
#   pip install -r requirements/base.txt -r requirements/dl.txt
#   bash scripts/install_horovod.sh            # PYTHON=/path/to/python picks another interpreter
# The first run builds a wheel (5-10 min on 2 cores) and caches it under
#   ${ECOMLAKE_CACHE:-~/.cache/ecomlake}/wheels/horovod-0.28.1-<python>-torch<version>-<cpu|cuda>/
# so later runs (new venvs with the same python + torch) install it in seconds.
# GPU: with nvcc on PATH or CUDA_HOME set, NCCL GPU operations are built in; for CUDA >= 12 also
# set HOROVOD_BUILD_CUDA_CC_LIST (e.g. 80,90). MAKEFLAGS defaults to -j<number of cores>.
# The sdist is pinned by hash: pip checks it while downloading (before running its setup.py), and this
# script again before extracting it. Sourced (the tests), the script only defines its functions.
set -euo pipefail

HVD_VERSION=0.28.1
# sha256 of horovod-0.28.1.tar.gz on PyPI (its simple index's digest; the same as `sha256sum` of pip's download).
HVD_SDIST_SHA256=92a43f5a94c43907a56805bad15f19700c62ffc83b7ca483f9e104e229f67ef0
say() { echo "install_horovod: $*"; }
die() { echo "install_horovod: ERROR: $*" >&2; exit 1; }
# check_sha256 FILE EXPECTED: stop unless FILE's sha256 is EXPECTED.
check_sha256() {
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $actual == "$2" ]] || die "$(basename "$1"): sha256 $actual, expected $2 (HVD_SDIST_SHA256 in" \
    "scripts/install_horovod.sh); refusing to build it. Re-run; if it persists, the package index (PIP_INDEX_URL," \
    "PIP_FIND_LINKS) serves another file: find out why before recording a new hash"
}
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0  # sourced: the functions only

PY=${PYTHON:-python}
start=$(date +%s)

info=$("$PY" -c 'import sys, torch; print("py%d%d" % sys.version_info[:2], torch.__version__.replace("+", "_"))' \
  2>/dev/null) || die "torch is not importable by '$PY'; first: pip install -r requirements/base.txt -r requirements/dl.txt"
read -r pyver torchver <<<"$info"

# Already there, at this version, with the torch extension loadable (fails if torch changed ABI)?
if "$PY" -c "import sys, horovod, horovod.torch; sys.exit(horovod.__version__ != '$HVD_VERSION')" 2>/dev/null; then
  say "horovod $HVD_VERSION with PyTorch support is already installed; nothing to do ($(( $(date +%s) - start )) s)"
  exit 0
fi

if command -v nvcc >/dev/null 2>&1 || [[ -n "${CUDA_HOME:-}" ]]; then variant=cuda; else variant=cpu; fi
cache_dir="${ECOMLAKE_CACHE:-$HOME/.cache/ecomlake}/wheels/horovod-$HVD_VERSION-$pyver-torch$torchver-$variant"
shopt -s nullglob
wheels=("$cache_dir"/horovod-"$HVD_VERSION"-*.whl)

if (( ${#wheels[@]} == 0 )); then
  cmake_bin=$(command -v cmake) || die "cmake not found: install the system cmake 3.x (apt-get install cmake)"
  cmake_ver=$("$cmake_bin" --version | sed -n 's/^cmake version \([0-9][0-9.]*\).*/\1/p')
  if ! [[ $cmake_ver =~ ^3\.([0-9]+) ]] || (( BASH_REMATCH[1] < 13 )); then
    die "need cmake 3.13-3.x, found '${cmake_ver:-unknown}' at $cmake_bin (cmake 4 rejects gloo's" \
        "cmake_minimum_required): apt-get install cmake, and pip uninstall cmake from this environment"
  fi
  export HOROVOD_CMAKE=$cmake_bin MAKEFLAGS=${MAKEFLAGS:--j$(nproc)}
  export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 \
         HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_CPU_OPERATIONS=gloo
  if [[ $variant == cuda ]]; then export HOROVOD_GPU_OPERATIONS=NCCL; fi  # HOROVOD_BUILD_CUDA_CC_LIST passes through

  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  say "downloading the horovod $HVD_VERSION sdist"
  # --require-hashes: pip refuses another file before running any of its code (metadata); without build
  # isolation it fetches no build tools of its own (this environment's are hash-checked, setup.sh).
  echo "horovod==$HVD_VERSION --hash=sha256:$HVD_SDIST_SHA256" >"$tmp/horovod.txt"
  "$PY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation --require-hashes -r "$tmp/horovod.txt" -d "$tmp" \
    || die "pip could not download horovod $HVD_VERSION with sha256 $HVD_SDIST_SHA256 (pip's error above names the hash it got)"
  check_sha256 "$tmp/horovod-$HVD_VERSION.tar.gz" "$HVD_SDIST_SHA256"
  tar -xzf "$tmp/horovod-$HVD_VERSION.tar.gz" -C "$tmp"
  src="$tmp/horovod-$HVD_VERSION"
  for f in CMakeLists.txt horovod/torch/CMakeLists.txt; do
    grep -q 'set(CMAKE_CXX_STANDARD 14)' "$src/$f" || die "C++17 patch: no 'set(CMAKE_CXX_STANDARD 14)' in $f"
    sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' "$src/$f"
    if grep -q 'set(CMAKE_CXX_STANDARD 14)' "$src/$f"; then die "C++17 patch did not apply to $f"; fi
  done

  say "building the wheel ($variant, $pyver, torch $torchver, MAKEFLAGS=$MAKEFLAGS; 5-10 min on 2 cores)"
  "$PY" -m pip wheel --no-build-isolation --no-deps --wheel-dir "$tmp/dist" "$src"
  built=("$tmp"/dist/horovod-"$HVD_VERSION"-*.whl)
  (( ${#built[@]} == 1 )) || die "pip wheel produced no horovod wheel"
  mkdir -p "$cache_dir"
  cp "${built[0]}" "$cache_dir/.partial" && mv "$cache_dir/.partial" "$cache_dir/$(basename "${built[0]}")"
  wheels=("$cache_dir/$(basename "${built[0]}")")
  say "cached ${wheels[0]}"
else
  say "using the cached wheel ${wheels[0]}"
fi

"$PY" -m pip install --quiet --no-deps --force-reinstall "${wheels[0]}"

# Verify: the torch extension loads and the build has PyTorch and Gloo.
"$PY" -c 'import horovod, horovod.torch as hvd; print("horovod", horovod.__version__, "imports with torch")'
horovodrun="$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/horovodrun"
[[ -x $horovodrun ]] || die "horovodrun not found next to $PY"
check=$("$horovodrun" --check-build)
echo "$check"
grep -q '\[X\] PyTorch' <<<"$check" || die "horovod was built without PyTorch"
grep -q '\[X\] Gloo' <<<"$check" || die "horovod was built without Gloo"
say "horovod $HVD_VERSION installed in $(( $(date +%s) - start )) s"

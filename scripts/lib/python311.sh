# Sourced by setup.sh and setup_analyst.sh: sets $python to $PYTHON or the first Python 3.11 on PATH
# (the pins are tested on it); exits 2 through the caller's say() when there is none.
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python="$candidate"; break
    fi
  done
fi
[[ -n "$python" ]] || { say "Python 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 2; }

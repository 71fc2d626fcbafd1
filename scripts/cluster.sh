#!/usr/bin/env bash
# A real Spark standalone cluster on this machine: one master and two workers on 127.0.0.1, started
# from the pip-installed Spark (which has no sbin/start-*.sh: spark-class runs the daemons).
#
#   scripts/cluster.sh start            start what is not running, wait until every worker has registered
#   scripts/cluster.sh stop             stop the workers and the master
#   scripts/cluster.sh status           exit 0 when the master and every worker are up, else 3
#   scripts/cluster.sh kill-worker N    SIGKILL worker N, as a lost machine (`start` brings it back)
#   scripts/cluster.sh url              print the master URL
#
# Then:  ECOMLAKE_SPARK_MASTER=$(scripts/cluster.sh url) scripts/submit.sh pipeline --date 2019-10-01
#
# Environment: ECOMLAKE_CLUSTER_DIR (pids, logs, work dirs; default $ECOMLAKE_CACHE/cluster),
# ECOMLAKE_CLUSTER_PORT (7077), ECOMLAKE_CLUSTER_UI_PORT (8080), ECOMLAKE_CLUSTER_WORKERS (2),
# ECOMLAKE_WORKER_CORES (1), ECOMLAKE_WORKER_MEMORY (2g).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${ECOMLAKE_CLUSTER_DIR:-${ECOMLAKE_CACHE:-$HOME/.cache/ecomlake}/cluster}"
port="${ECOMLAKE_CLUSTER_PORT:-7077}"
ui_port="${ECOMLAKE_CLUSTER_UI_PORT:-8080}"
workers="${ECOMLAKE_CLUSTER_WORKERS:-2}"
cores="${ECOMLAKE_WORKER_CORES:-1}"
memory="${ECOMLAKE_WORKER_MEMORY:-2g}"
master_url="spark://127.0.0.1:$port"
export SPARK_LOCAL_IP=127.0.0.1  # loopback only: nothing listens on the machine's other interfaces

say() { echo "cluster: $*" >&2; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The master's view: how many workers are registered and ALIVE (-1 when the master does not answer).
alive_workers() {
  "$python" - "$ui_port" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2) as r:
        print(sum(w["state"] == "ALIVE" for w in json.load(r)["workers"]))
except Exception:
    print(-1)
PY
}

# Start a daemon in its own session, so a Ctrl-C in this shell or the end of a CI step does not stop it.
daemon() {
  local name="$1"; shift
  if alive "$dir/$name.pid"; then return; fi
  say "starting $name"
  setsid nohup "$bin/spark-class" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

start() {
  mkdir -p "$dir"
  daemon master org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port "$ui_port"
  for n in $(seq 1 "$workers"); do
    mkdir -p "$dir/worker-$n/work" "$dir/worker-$n/local"
    SPARK_LOCAL_DIRS="$dir/worker-$n/local" daemon "worker-$n" org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --cores "$cores" --memory "$memory" --webui-port 0 --work-dir "$dir/worker-$n/work" "$master_url"
  done
  for _ in $(seq 1 120); do
    # A worker killed just before may still count as ALIVE until the master notices: trust the pids too.
    if [[ "$(alive_workers)" -ge "$workers" ]] && all_up; then say "up: $master_url, $workers workers (web UI http://127.0.0.1:$ui_port)"; return; fi
    all_up || break  # a daemon died: its log says why
    sleep 1
  done
  say "the cluster did not come up; logs in $dir"; tail -n 20 "$dir"/*.log >&2; exit 1
}

all_up() {
  alive "$dir/master.pid" || return 1
  for n in $(seq 1 "$workers"); do alive "$dir/worker-$n.pid" || return 1; done
}

stop() {
  local pids=()
  for f in "$dir"/worker-*.pid "$dir"/master.pid; do
    [[ -f "$f" ]] || continue
    if alive "$f"; then pids+=("$(cat "$f")"); fi
    rm -f "$f"
  done
  [[ ${#pids[@]} -gt 0 ]] || { say "not running"; return; }
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 "${pids[@]}" 2>/dev/null || { say "stopped"; return; }
    sleep 0.5
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  say "stopped (killed)"
}

status() {
  local ok=0
  if alive "$dir/master.pid"; then echo "master   up    $master_url (pid $(cat "$dir/master.pid"))"; else echo "master   down"; ok=3; fi
  for n in $(seq 1 "$workers"); do
    if alive "$dir/worker-$n.pid"; then echo "worker-$n up    (pid $(cat "$dir/worker-$n.pid"))"; else echo "worker-$n down"; ok=3; fi
  done
  echo "registered workers alive: $(alive_workers)"
  return $ok
}

case "${1:-}" in
  start|status)
    python="$("$repo/scripts/setup.sh")"; bin="$(dirname "$python")"
    # spark-class finds Spark through SPARK_HOME; pip's pyspark package is one (jars/ included).
    SPARK_HOME="$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"; export SPARK_HOME
    "$1" ;;
  stop) stop ;;
  url) echo "$master_url" ;;
  kill-worker)
    f="$dir/worker-${2:?kill-worker needs a worker number}.pid"
    alive "$f" || { say "worker-$2 is not running"; exit 3; }
    kill -9 "$(cat "$f")"; rm -f "$f"; say "killed worker-$2" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac

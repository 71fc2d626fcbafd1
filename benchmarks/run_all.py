"""Run the benchmark suite and write its report: ``benchmarks/results/results.json`` and ``REPORT.md`` with charts.

    scripts/bench.sh [--sizes 1000000,10000000,100000000] [--only etl,duckdb,naive,als,reader] [--data DIR]

Each benchmark runs in a process of its own (one size's JVM and memory do not leak into the next,
and a size that dies is recorded as such). ``--only`` re-runs some sections and keeps the others
from the existing results.json, so the slow sizes need not be measured again to change the report.
Sections:

- etl:    ingest + clean + featurize of one day at each size (benchmarks/etl.py);
- duckdb: Spark's sessions + user_item_daily + user_features against DuckDB on the same silver
          files, outputs compared row for row (benchmarks/featurize.py), at the sizes >= 10M;
- naive:  the library's sessionisation against a Python-UDF one (benchmarks/naive_sessions.py);
- als:    Spark ALS against the ``implicit`` library on the same interactions and split (benchmarks/als.py);
- reader: Petastorm vs pyarrow vs in-memory tensors feeding the LSTM, 1 and 2 processes (benchmarks/lstm_reader.py).

The memory ceiling and the cluster projection are derived from the etl section (benchmarks/report.py).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, machine, read_json, write_json

RESULTS = REPO / "benchmarks" / "results"
SECTIONS = ("etl", "duckdb", "naive", "als", "reader")
DEFAULT_SIZES = (1_000_000, 10_000_000, 100_000_000)


def run_module(module: str, *args: str) -> dict[str, Any]:
    """``python -m benchmarks.<module> ... --json F`` in its own process; its figures, or how it failed."""
    with tempfile.TemporaryDirectory(prefix="ecomlake-bench-") as tmp:
        out = Path(tmp) / "result.json"
        run = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args, "--json", str(out)], cwd=REPO)
        if out.is_file():
            return {**read_json(out), "exit_code": run.returncode}
        return {"failed": True, "exit_code": run.returncode, "args": list(args)}


def etl_lake(work: Path, events: int) -> Path:
    return work / f"etl-{events}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="events per day, comma-separated")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to (re-)run, of {','.join(SECTIONS)}")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ecomlake-bench-data", help="generated data, kept and reused")
    parser.add_argument("--lakes", type=Path, default=None, help="keep each size's ETL lake here, and reuse it for duckdb/naive (default: removed)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    only = args.only.split(",")
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    results_path = args.out / "results.json"
    results: dict[str, Any] = read_json(results_path) if results_path.is_file() else {}
    results["machine"] = machine()
    work = args.lakes or Path(tempfile.mkdtemp(prefix="ecomlake-bench-lakes-"))
    try:
        for events in sizes:
            # The etl run's lake is kept while the sections that read its silver run on it.
            has_lake = (etl_lake(work, events) / "lake" / "silver" / "events" / "_delta_log").is_dir()
            needs_lake = any(s in only for s in ("duckdb", "naive")) and not has_lake
            if "etl" in only or needs_lake:
                shutil.rmtree(etl_lake(work, events), ignore_errors=True)
                lake_work = etl_lake(work, events)
                figures = run_module("etl", "--events", str(events), "--data", str(args.data), "--work", str(lake_work))
                if "etl" in only:
                    results.setdefault("etl", {})[str(events)] = figures
                    write_json(results_path, results)
            if "duckdb" in only and events >= 10_000_000:
                figures = run_module("featurize", "--lake", str(etl_lake(work, events) / "lake"), "--no-full")
                results.setdefault("duckdb", {})[str(events)] = figures
                write_json(results_path, results)
            if "naive" in only and events <= 10_000_000:
                figures = run_module("naive_sessions", "--lake", str(etl_lake(work, events) / "lake"))
                results.setdefault("naive", {})[str(events)] = figures
                write_json(results_path, results)
            if args.lakes is None:
                shutil.rmtree(etl_lake(work, events), ignore_errors=True)
        if "als" in only:
            results["als"] = run_module("als", "--data", str(args.data))
            write_json(results_path, results)
        if "reader" in only:
            results["reader"] = run_module("lstm_reader", "--procs", "1,2")
            write_json(results_path, results)
    finally:
        if args.lakes is None:
            shutil.rmtree(work, ignore_errors=True)
    from benchmarks.report import write_report

    write_report(results, args.out)
    print(f"report: {args.out / 'REPORT.md'}")


if __name__ == "__main__":
    main()

"""Run the benchmark suite and write its report: ``benchmarks/results/results.json`` and ``REPORT.md`` with charts.

    scripts/bench.sh [--sizes 1000000,10000000,100000000] [--only etl,tuned,duckdb,naive,als,reader] [--data DIR]

Each benchmark runs in a process of its own (one size's JVM and memory do not leak into the next,
and a size that dies is recorded as such). ``--only`` re-runs some sections and keeps the others
from the existing results.json, so the slow sizes need not be measured again to change the report.
Sections:

- etl:    ingest + clean + featurize of one day at each size (benchmarks/etl.py);
- tuned:  the same, at each size the default config did not complete, with one shuffle partition
          per 1M events (the rule the cluster projection assumes);
- duckdb: Spark's sessions + user_item_daily + user_features against DuckDB on the same silver
          files, outputs compared row for row (benchmarks/featurize.py), at the sizes >= 10M
          (on the tuned run's silver where the default config did not complete);
- naive:  the library's sessionisation against a Python-UDF one (benchmarks/naive_sessions.py);
- als:    Spark ALS against the ``implicit`` library on the same interactions and split (benchmarks/als.py);
- reader: Petastorm vs pyarrow vs in-memory tensors feeding the LSTM, 1 and 2 processes (benchmarks/lstm_reader.py).

The memory ceiling and the cluster projection are derived from the etl and tuned sections (benchmarks/report.py).
When a benchmark's JVM dies, its stderr is scanned for the cause (the Python side only sees the next
call fail on a stopped context), which is recorded beside the error.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from benchmarks.common import REPO, machine, read_json, write_json

RESULTS = REPO / "benchmarks" / "results"
SECTIONS = ("etl", "tuned", "duckdb", "naive", "als", "reader")
DEFAULT_SIZES = (1_000_000, 10_000_000, 100_000_000)
NO_LAKE = {"failed": {"error": "no ETL run of this size completed, so there is no silver to read"}}


# Lines of a dying JVM's log that name why it died, as opposed to what failed after it.
ROOT_CAUSES = ("java.lang.OutOfMemoryError", "No space left on device")


def root_cause(lines: Iterable[str]) -> str | None:
    """The first line naming a root cause, from the cause's name on (``java.lang.OutOfMemoryError: Java heap space``)."""
    for line in lines:
        for cause in ROOT_CAUSES:
            at = line.find(cause)
            if at >= 0:
                return line[at:].strip()[:300]
    return None


def run_module(module: str, *args: str) -> dict[str, Any]:
    """``python -m benchmarks.<module> ... --json F`` in its own process; its figures, or how it failed.

    Its stderr is passed through as it comes, and scanned for a root cause to record with a failure."""
    with tempfile.TemporaryDirectory(prefix="ecomlake-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", f"benchmarks.{module}", *args, "--json", str(out)]
        with subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
            assert proc.stderr is not None
            lines = _passed_through(proc.stderr)
            cause = root_cause(lines)  # stops at the first cause
            for _ in lines:  # the rest of stderr, passed through
                pass
        if out.is_file():
            figures = {**read_json(out), "exit_code": proc.returncode}
        else:
            figures = {"failed": {"error": f"no figures written (exit {proc.returncode})"}, "exit_code": proc.returncode, "args": list(args)}
        if isinstance(figures.get("failed"), dict) and cause:
            figures["failed"]["cause"] = cause
        return figures


def _passed_through(stream: TextIO) -> Iterator[str]:
    for line in stream:
        sys.stderr.write(line)
        yield line


def etl_lake(work: Path, events: int, tuned: bool = False) -> Path:
    return work / (f"etl-{events}-tuned" if tuned else f"etl-{events}")


def tuned_overrides(events: int) -> list[str]:
    """One shuffle partition per 1M events, never fewer than the default config's 8."""
    return [f"spark.shuffle_partitions={max(8, events // 1_000_000)}"]


def lake_with_silver(work: Path, events: int) -> Path | None:
    """The size's ETL lake that has silver: the default config's, else the tuned run's."""
    for lake in (etl_lake(work, events), etl_lake(work, events, tuned=True)):
        if (lake / "lake" / "silver" / "events" / "_delta_log").is_dir():
            return lake / "lake"
    return None


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
            needs_lake = any(s in only for s in ("duckdb", "naive")) and lake_with_silver(work, events) is None
            etl_args = ("--events", str(events), "--data", str(args.data))
            if "etl" in only or needs_lake:
                shutil.rmtree(etl_lake(work, events), ignore_errors=True)
                figures = run_module("etl", *etl_args, "--work", str(etl_lake(work, events)))
                if "etl" in only:
                    results.setdefault("etl", {})[str(events)] = figures
                    write_json(results_path, results)
            if "tuned" in only and results.get("etl", {}).get(str(events), {}).get("failed") is not None:
                shutil.rmtree(etl_lake(work, events, tuned=True), ignore_errors=True)
                sets = [a for o in tuned_overrides(events) for a in ("--set", o)]
                figures = run_module("etl", *etl_args, "--work", str(etl_lake(work, events, tuned=True)), *sets)
                results.setdefault("etl_tuned", {})[str(events)] = figures
                write_json(results_path, results)
            lake = lake_with_silver(work, events)
            if "duckdb" in only and events >= 10_000_000:
                figures = run_module("featurize", "--lake", str(lake), "--no-full") if lake else NO_LAKE
                results.setdefault("duckdb", {})[str(events)] = figures
                write_json(results_path, results)
            if "naive" in only and events <= 10_000_000:
                figures = run_module("naive_sessions", "--lake", str(lake)) if lake else NO_LAKE
                results.setdefault("naive", {})[str(events)] = figures
                write_json(results_path, results)
            if args.lakes is None:
                shutil.rmtree(etl_lake(work, events), ignore_errors=True)
                shutil.rmtree(etl_lake(work, events, tuned=True), ignore_errors=True)
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

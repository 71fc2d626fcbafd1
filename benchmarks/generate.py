"""Benchmark: `ecomlake generate` throughput and peak memory on this machine.

    python benchmarks/generate.py [--events 1000000] [--format csv] [--out /tmp/ecomlake-bench]

Prints events/s for the write pass and the manifest pass, and the peak resident memory of the
driver process plus the local Spark JVM. A benchmark, not a test: figures vary by machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

from ecomlake.config import load_config
from ecomlake.generate.dataset import generate_dataset
from ecomlake.metrics import peak_rss_mib
from ecomlake.session import start_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=("csv", "json", "parquet"))
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="ecomlake-bench-")
    config = load_config(None, overrides=[f"lake.root={out}/lake"])
    t0 = time.perf_counter()
    spark = start_session(config.spark, "ecomlake-bench-generate")
    session_s = time.perf_counter() - t0
    gen = dataclasses.replace(config.generator, events=args.events, format=args.format, days=args.days, output=f"{out}/events")
    t1 = time.perf_counter()
    manifest = generate_dataset(spark, gen)
    total_s = time.perf_counter() - t1
    rows = manifest["totals"]["rows"]
    peak = peak_rss_mib()
    print(f"session start:       {session_s:8.1f} s")
    print(f"generate {args.format:<8}    {total_s:8.1f} s for {rows:,} rows ({args.events:,} target events, {args.days} day(s))")
    print(f"throughput:          {rows / total_s:10,.0f} rows/s (write + manifest pass, {spark.sparkContext.defaultParallelism} cores)")
    print(f"peak memory:         {peak:10,.0f} MiB (driver + local JVM)" if peak else "peak memory: n/a")
    print(f"faults injected:     {manifest['totals']['faults']}")
    spark.stop()


if __name__ == "__main__":
    main()

"""Benchmark: ingest + clean throughput and peak memory on generated events.

    python -m benchmarks.ingest_clean --events 1000000 10000000 [--redeliver] [--keep]

For each size: generate a day of REES46-layout CSV with the default fault rates (timed apart),
then the jobs `ingest` (raw CSV -> bronze) and `clean` (bronze -> silver + quarantine) for that day
(``run(Context(spark, config), Params(day))``), with row conservation checked as in production. Prints rows/s per step and the peak resident memory
of the driver plus the local Spark JVM. A benchmark, not a test: figures vary by machine.

``--redeliver``: the cost of the re-delivery check (clean.dedupe_lookback_days). The whole day is delivered
again with the next day's ingest (the worst case: every record was delivered before) and that day is
cleaned twice in the same run: with the check (every row dropped as redelivered) and, as the baseline,
with ``clean.dedupe_lookback_days=0`` (no check: every row kept again).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import shutil
import tempfile
import time
from typing import TYPE_CHECKING

from ecomlake.clean.job import CleanParams
from ecomlake.clean.job import run as clean
from ecomlake.config import Config, load_config
from ecomlake.generate.dataset import generate_dataset
from ecomlake.ingest.job import IngestParams
from ecomlake.ingest.job import run as ingest
from ecomlake.job import Context
from ecomlake.metrics import peak_rss_mib
from ecomlake.session import start_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DAY = dt.date(2019, 10, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the generated data and lake")
    parser.add_argument(
        "--redeliver", action="store_true", help="also time the next day's clean of the same files, with and without the re-delivery check"
    )
    args = parser.parse_args()
    spark = None
    for events in args.events:
        root = tempfile.mkdtemp(prefix=f"ecomlake-bench-{events}-")
        config = load_config(None, overrides=[f"lake.root={root}/lake", f"generator.events={events}"])
        if spark is None:
            t = time.perf_counter()
            spark = start_session(config.spark, "ecomlake-bench-etl")
            print(f"session start: {time.perf_counter() - t:.1f} s ({spark.sparkContext.defaultParallelism} cores)")
        t = time.perf_counter()
        manifest = generate_dataset(spark, config.generator)
        generate_s = time.perf_counter() - t
        ctx = Context(spark, config)
        t = time.perf_counter()
        ingested = ingest(ctx, IngestParams(DAY))
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        counts = clean(ctx, CleanParams(DAY)).counts
        clean_s = time.perf_counter() - t
        rows = manifest["totals"]["rows"]
        print(f"== {events:,} target events: {rows:,} raw rows")
        print(f"  generate       {generate_s:8.1f} s  {rows / generate_s:10,.0f} rows/s")
        print(f"  ingest         {ingest_s:8.1f} s  {ingested.rows / ingest_s:10,.0f} rows/s  ({ingested.rows:,} bronze rows)")
        print(f"  clean          {clean_s:8.1f} s  {counts.rows_in / clean_s:10,.0f} rows/s  "
              f"({counts.kept:,} kept, {counts.quarantined:,} quarantined, {counts.duplicates:,} duplicates, "
              f"{counts.bot_rows_removed:,} bot rows)")  # fmt: skip
        print(f"  ingest+clean   {ingest_s + clean_s:8.1f} s  {rows / (ingest_s + clean_s):10,.0f} rows/s end to end")
        if args.redeliver:
            redeliver(spark, config, ingested.files)
        peak = peak_rss_mib()
        print(f"  peak memory    {peak:8,.0f} MiB (driver + local JVM, whole run so far)" if peak else "  peak memory n/a")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if spark is not None:
        spark.stop()


def redeliver(spark: SparkSession, config: Config, files: tuple[str, ...]) -> None:
    """The day's files again on the next day; that day cleaned with the re-delivery check, then without (the baseline)."""
    next_day = DAY + dt.timedelta(days=1)
    ingest(Context(spark, config), IngestParams(next_day, files))
    timings = {}
    for label, lookback in (("without check", 0), ("with check", None)):
        cfg = dataclasses.replace(config, clean=dataclasses.replace(config.clean, dedupe_lookback_days=lookback))
        t = time.perf_counter()
        counts = clean(Context(spark, cfg), CleanParams(next_day)).counts
        timings[label] = time.perf_counter() - t
        print(f"  clean again, {label:<14} {timings[label]:8.1f} s  ({counts.kept:,} kept, {counts.duplicates_redelivered:,} redelivered)")
    print(f"  re-delivery check: {timings['with check'] / timings['without check']:.2f}x the clean without it")


if __name__ == "__main__":
    main()

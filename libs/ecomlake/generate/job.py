"""``ecomlake generate``: synthetic REES46-layout event files with injected faults and a manifest."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from pyspark.sql import SparkSession

from ecomlake import lake
from ecomlake.config import Config, config_hash
from ecomlake.generate.dataset import generate_dataset
from ecomlake.generate.schemas import GENERATOR_RUNS
from ecomlake.job import Job, iso_date
from ecomlake.metrics import peak_rss_mib
from ecomlake.runinfo import code_version, new_run_id

log = logging.getLogger(__name__)

GENERATOR_RUNS_SCHEMA = GENERATOR_RUNS.struct()  # documented in ecomlake.generate.schemas


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", dest="generator.events", type=int, help="target number of human events (bots and faults come on top)")
    parser.add_argument("--days", dest="generator.days", type=int, help="number of days of traffic")
    parser.add_argument("--start-date", dest="generator.start_date", type=iso_date, help="first day, YYYY-MM-DD")
    parser.add_argument("--seed", dest="generator.seed", type=int, help="the same seed gives byte-identical files")
    parser.add_argument("--format", dest="generator.format", choices=("csv", "json", "parquet"), help="output format")
    parser.add_argument("--output", dest="generator.output", help="output folder (default <lake.root>/landing/events)")
    parser.add_argument("--users", dest="generator.users", type=int, help="number of users (default events / 15)")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> None:
    assert spark is not None
    g = config.generator
    run_id, started_at, t0 = new_run_id(), dt.datetime.now(dt.UTC), time.perf_counter()
    manifest = generate_dataset(spark, g)
    seconds = time.perf_counter() - t0
    totals = manifest["totals"]
    record = spark.createDataFrame(
        [
            (
                run_id,
                started_at,
                seconds,
                g.seed,
                g.format,
                str(g.output),
                g.start_date,
                g.days,
                g.events,
                totals["rows"],
                totals["human_events"],
                totals["bot_events"],
                totals["faults"],
                config_hash(config),
                code_version(),
            )
        ],
        GENERATOR_RUNS_SCHEMA,
    )
    lake.write_table(record, config.lake, lake.GENERATOR_RUNS, mode="append", schema=GENERATOR_RUNS)
    peak = peak_rss_mib()
    peak_text = f"{peak:,.0f} MiB" if peak is not None else "n/a"
    print(
        f"generate: {totals['rows']:,} rows ({totals['human_events']:,} human events, {totals['bot_events']:,} bot events, "
        f"{sum(totals['faults'].values()):,} faults) in {seconds:.1f} s = {totals['rows'] / seconds:,.0f} rows/s; "
        f"peak memory {peak_text}; {g.format} files and _manifest in {g.output}"
    )


JOB = Job("generate", "Generate realistic REES46-layout events with injected faults (any size, deterministic per seed)", add_arguments, run)

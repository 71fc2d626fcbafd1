"""``ecomlake demo``: the main job end to end on a generated sample, ending with the lake's tables.

The README's first command runs this on a fresh machine. It generates a day of events with faults
into the lake's landing area, then ingests it to bronze, cleans it to silver and quarantine,
featurises it into the gold tables, segments the users, trains the recommender and, once there are
labels (``featurize.label_horizon_days`` of later days), the propensity models, writes the day's run
report (HTML and PNG charts), and reads the Delta tables back.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt

from pyspark.sql import SparkSession

from ecomlake import lake
from ecomlake.clean import job as clean_job
from ecomlake.config import Config
from ecomlake.errors import InputMissingError
from ecomlake.featurize import job as featurize_job
from ecomlake.generate import job as generate_job
from ecomlake.ingest import job as ingest_job
from ecomlake.job import Job
from ecomlake.profile import job as profile_job
from ecomlake.propensity import job as propensity_job
from ecomlake.recommend import job as recommend_job
from ecomlake.report import job as report_job

DEMO_EVENTS = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=DEMO_EVENTS, help=f"human events to generate (default {DEMO_EVENTS:,})")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> None:
    assert spark is not None
    config = dataclasses.replace(config, generator=dataclasses.replace(config.generator, events=args.events))
    print(f"demo: lake at {config.lake.root}")
    generate_job.run(spark, config, args)
    # The generator writes where ingest looks by default: <lake.root>/landing/events/event_date=<day>/.
    for offset in range(config.generator.days):
        date = config.generator.start_date + dt.timedelta(days=offset)
        ingest_job.run(spark, config, argparse.Namespace(date=date, path=None))
        clean_job.run(spark, config, argparse.Namespace(date=date))
        featurize_job.run(spark, config, argparse.Namespace(date=date, full=False))
    profile_job.run(spark, config, argparse.Namespace(date=date, cdnow=None, score_only=False))
    recommend_job.run(spark, config, argparse.Namespace(date=date, score_only=False))
    try:
        propensity_job.run(spark, config, argparse.Namespace(date=date, score_only=False))
    except InputMissingError as exc:  # a short demo has no complete labels yet: say so and go on
        print(f"propensity: skipped: {exc}")
    report_job.run(spark, config, argparse.Namespace(date=date, out=None))
    print("demo: Delta tables in the lake (read back through Spark):")
    for name, rows, version, path in lake.table_summary(spark, config.lake):
        print(f"  {name:<32} {rows:>12,} rows  version {version:<4} {path}")


JOB = Job("demo", "Run the suite end to end on a generated sample and list the Delta tables it wrote", add_arguments, run)

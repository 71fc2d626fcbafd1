"""``ecomlake ingest``: one day's raw event files into bronze.events, idempotently.

Extract (list and read the files as the layout says) -> transform (map onto BRONZE_SCHEMA) -> load
(replace this date's rows from these files in one Delta commit). Re-ingesting the same files for
the same date gives the same rows; rows of other files of that date are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.ingest.layouts import Layout, builtin_layouts, load_layout
from ecomlake.ingest.read import day_input_path, list_input_files, read_raw, replace_predicate, to_bronze
from ecomlake.ingest.schemas import BRONZE
from ecomlake.job import Job, iso_date
from ecomlake.runinfo import new_run_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What one ingest committed to bronze.events."""

    run_id: str
    ingest_date: dt.date
    layout: str
    files: tuple[str, ...]
    rows: int
    malformed: int  # rows with raw_record set
    seconds: float


def ingest_events(
    spark: SparkSession,
    config: Config,
    ingest_date: dt.date,
    paths: Sequence[str] | None = None,
    layout: Layout | None = None,
    run_id: str | None = None,
) -> IngestResult:
    """Ingest ``paths`` (default: the day's folder under ``ingest.landing``) into bronze.events for ``ingest_date``.

    Replaces exactly the rows of this date and these source files, in one Delta commit.
    Raises InputMissingError naming the path when there is no input.

    Example:
        >>> ingest_events(spark, config, dt.date(2019, 10, 1), ["/data/2019-Oct.csv"]).rows  # doctest: +SKIP
        42448764
    """
    t0 = time.perf_counter()
    layout = layout or load_layout(config.ingest.layout)
    paths = list(paths) if paths else [day_input_path(config.ingest, ingest_date)]
    run_id = run_id or new_run_id()
    files = list_input_files(spark, paths)
    log.info("ingesting %d file(s) from %s with layout %s (%s)", len(files), ", ".join(paths), layout.name, layout.origin)
    bronze = to_bronze(read_raw(spark, layout, paths), layout, ingest_date, dt.datetime.now(dt.UTC), run_id)
    # Delta checks that every written row satisfies the predicate, so a file listed differently from
    # its _metadata.file_path, or arriving between listing and reading, fails the commit instead of
    # leaving duplicates behind.
    where = replace_predicate(ingest_date, files)
    lake.write_table(bronze, config.lake, lake.BRONZE_EVENTS, mode="overwrite", replace_where=where, schema=BRONZE)
    # Counted from the written slice (two columns of it), not with DataFrame.observe while writing: in
    # Spark 4.0 a session that used an Observation can no longer be serialized, and MLlib models whose
    # training summaries hold the session then fail to transform later in the same session.
    written = lake.read_table(spark, config.lake, lake.BRONZE_EVENTS).where(where)
    rows, malformed = written.agg(F.count(F.lit(1)), F.count("raw_record")).first()
    return IngestResult(run_id, ingest_date, layout.name, files, rows, malformed, time.perf_counter() - t0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=iso_date, help="the day being ingested, YYYY-MM-DD (bronze.events.ingest_date)")
    parser.add_argument(
        "--path", help="a file, folder or glob to ingest instead of <ingest.landing>/<ingest.day_path> (e.g. a downloaded 2019-Oct.csv)"
    )
    parser.add_argument(
        "--layout",
        dest="ingest.layout",
        help=f"source layout: a built-in name ({', '.join(builtin_layouts())}) or a path to a layout YAML file",
    )


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> IngestResult:
    assert spark is not None
    result = ingest_events(spark, config, args.date, [args.path] if args.path else None)
    print(
        f"ingest: {result.rows:,} rows ({result.malformed:,} malformed, kept with raw_record) from {len(result.files)} file(s) "
        f"with layout {result.layout} into {lake.BRONZE_EVENTS.qualified_name(config.lake)} for {result.ingest_date} "
        f"in {result.seconds:.1f} s; run {result.run_id}"
    )
    return result


JOB = Job("ingest", "Ingest one day's raw event files (any YAML-declared layout) into bronze.events, idempotently", add_arguments, run)

"""``ecomlake ingest``: one day's raw event files into bronze.events, idempotently.

Extract (list and read the files as the layout says) -> transform (map onto bronze.events) -> load
(replace this date's rows from these files in one Delta commit). Re-ingesting the same files for
the same date gives the same rows; rows of other files of that date are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import BRONZE_EVENTS
from ecomlake.ingest.layouts import builtin_layouts, configured_layout, record_layout
from ecomlake.ingest.read import day_input_path, list_input_files, read_raw, to_bronze
from ecomlake.job import Context, SparkJob, iso_date

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestParams:
    date: dt.date  # bronze.events.ingest_date
    paths: tuple[str, ...] = ()  # files, folders or globs; () = the day's folder under ingest.landing


@dataclass(frozen=True)
class IngestResult:
    """What one ingest committed to bronze.events."""

    run_id: str
    ingest_date: dt.date
    layout: str
    table: str  # the catalog name written
    files: tuple[str, ...]
    rows: int
    malformed: int  # rows with raw_record set

    @property
    def rows_in(self) -> int:
        return self.rows

    @property
    def rows_out(self) -> int:
        return self.rows

    def figures(self) -> Mapping[str, float]:
        return {"files": len(self.files), "malformed": self.malformed}

    def summary(self) -> str:
        return (
            f"ingest: {self.rows:,} rows ({self.malformed:,} malformed, kept with raw_record) from {len(self.files)} file(s) "
            f"with layout {self.layout} into {self.table} for {self.ingest_date}; run {self.run_id}"
        )


def run(ctx: Context, params: IngestParams) -> IngestResult:
    """Ingest the files into bronze.events for the date: exactly the rows of this date and these files are replaced, in one commit.

    Raises InputMissingError naming the path when there is no input.

    Example:
        >>> run(ctx, IngestParams(dt.date(2019, 10, 1), ("/data/2019-Oct.csv",))).rows  # doctest: +SKIP
        42448764
    """
    spark, config = ctx.spark, ctx.config
    layout = configured_layout(config)
    paths = list(params.paths) or [day_input_path(config.ingest, params.date)]
    files = list_input_files(spark, paths)
    log.info("ingesting %d file(s) from %s with layout %s (%s)", len(files), ", ".join(paths), layout.name, layout.origin)
    bronze = to_bronze(read_raw(spark, layout, paths), layout, params.date, dt.datetime.now(dt.UTC), ctx.run_id)
    # Delta checks that every written row is in the slice, so a file listed differently from its
    # _metadata.file_path, or arriving between listing and reading, fails the commit instead of
    # leaving duplicates behind.
    where: lake.Where = {"ingest_date": params.date, "source_file": files}
    record_layout(ctx, layout)
    rows = lake.write(bronze, config, BRONZE_EVENTS, where)
    # The malformed rows are counted from the written slice (one column of it), not with DataFrame.observe while
    # writing: in Spark 4.0 a session that used an Observation can no longer be serialized, and MLlib models whose
    # training summaries hold the session then fail to transform later in the same session.
    malformed = lake.read(spark, config, BRONZE_EVENTS, where, missing="empty").agg(F.count("raw_record")).collect()[0][0]
    return IngestResult(ctx.run_id, params.date, layout.name, BRONZE_EVENTS.qualified_name(config.lake), files, rows, malformed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=iso_date, help="the day being ingested, YYYY-MM-DD (bronze.events.ingest_date)")
    parser.add_argument(
        "--path",
        dest="paths",
        action="append",
        default=[],
        help="a file, folder or glob to ingest instead of <ingest.landing>/<ingest.day_path> (e.g. a downloaded 2019-Oct.csv); repeatable",
    )
    parser.add_argument(
        "--layout",
        dest="ingest.layout",
        help=f"source layout: a built-in name ({', '.join(builtin_layouts())}) or a path to a layout YAML file",
    )


JOB = SparkJob(
    "ingest", "Ingest one day's raw event files (any YAML-declared layout) into bronze.events, idempotently", IngestParams, run, add_arguments
)

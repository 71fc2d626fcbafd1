"""``ecomlake ingest``: one day's raw event files into bronze.events, idempotently.

Extract (list and read the files as the layout says) -> transform (map onto bronze.events) -> load
(replace this date's rows from these files in one Delta commit). Re-ingesting the same files for
the same date gives the same rows; rows of other files of that date are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import BRONZE_EVENTS, LAYOUTS
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.ingest.layouts import Layout, builtin_layouts, check_event_types, load_layout, parse_event_time
from ecomlake.ingest.read import day_input_path, event_day, list_input_files, read_raw, to_bronze
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


def record_layout(ctx: Context, layout: Layout) -> None:
    """Record the layout's exact version in bronze.layouts (once per version), so that clean reads it from the lake.

    A layout file changed under a name already recorded is a new version: logged with both versions, and
    the rows read with each name their own (bronze.events.layout_hash).
    """
    spark, config = ctx.spark, ctx.config
    known = lake.read(spark, config, LAYOUTS, missing="empty").where(F.col("name") == layout.name).select("layout_hash", "origin").collect()
    if any(r["layout_hash"] == layout.digest for r in known):
        return
    for r in known:
        log.warning(
            "layout %s changed: %s is version %s, bronze.layouts holds version %s (from %s); rows name the version they were read with",
            layout.name, layout.origin, layout.digest, r["layout_hash"], r["origin"],
        )  # fmt: skip
    record = {
        "layout_hash": layout.digest, "name": layout.name, "origin": layout.origin, "content": layout.text,
        "recorded_at": dt.datetime.now(dt.UTC), "run_id": ctx.run_id,
    }  # fmt: skip
    lake.append(spark, config, LAYOUTS, [record], where={"layout_hash": layout.digest})


def configured_layout(config: Config) -> Layout:
    """The layout of ingest.layout, its event types checked against the configured vocabulary (events)."""
    layout = load_layout(config.ingest.layout)
    check_event_types(layout, config.events.types)
    return layout


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


@dataclass(frozen=True)
class HistoryLoad:
    """What a historic load committed to bronze.events: each record under its event's day."""

    layout: str
    files: tuple[str, ...]
    first: dt.date
    last: dt.date
    rows_per_day: dict[dt.date, int]  # ingest_date -> rows; days of the range without rows are left out

    @property
    def rows(self) -> int:
        return sum(self.rows_per_day.values())


def load_history(ctx: Context, paths: Sequence[str], first: dt.date | None = None, last: dt.date | None = None) -> HistoryLoad:
    """Ingest files spanning many days (a downloaded month) as daily deliveries of the same events would have:
    each record under its event's UTC day as ingest_date, so that clean's late-data and bot rules apply per day.

    The range defaults to the first and last event day found between clean.site_launch and today. Records
    outside it, or whose time does not parse, go to its nearest end (:func:`ecomlake.ingest.read.event_day`).
    Re-loading the same files replaces exactly their rows of those days, in one commit.
    """
    spark, config = ctx.spark, ctx.config
    layout = configured_layout(config)
    files = list_input_files(spark, paths)
    placeholder = dt.date(1970, 1, 1)  # every row's ingest_date is its event day, set below once the range is known
    bronze = to_bronze(read_raw(spark, layout, paths), layout, placeholder, dt.datetime.now(dt.UTC), ctx.run_id)
    if first is None or last is None:
        found_first, found_last = _event_day_range(bronze, layout, config.clean.site_launch, paths)
        first, last = first or found_first, last or found_last
    if last < first:
        raise ConfigError(f"--end {last} is before --start {first}")
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    log.info(
        "loading %d file(s) from %s with layout %s as %d daily deliveries, %s..%s", len(files), ", ".join(paths), layout.name, len(days), first, last
    )
    record_layout(ctx, layout)
    where: lake.Where = {"ingest_date": days, "source_file": files}
    lake.write(bronze.withColumn("ingest_date", event_day(layout, first, last)), config, BRONZE_EVENTS, where)
    per_day = lake.read(spark, config, BRONZE_EVENTS, where, missing="empty").groupBy("ingest_date").count().collect()
    return HistoryLoad(layout.name, files, first, last, dict(sorted((r["ingest_date"], r["count"]) for r in per_day)))


def _event_day_range(bronze: DataFrame, layout: Layout, site_launch: dt.date, paths: Sequence[str]) -> tuple[dt.date, dt.date]:
    """The first and last event days of the records, between the site's launch and today (a stray future or epoch-zero time is no day)."""
    day = F.to_date(parse_event_time(F.col("event_time"), layout.time_format))
    plausible = day.between(F.lit(site_launch), F.lit(dt.datetime.now(dt.UTC).date()))
    row = bronze.select(day.alias("d")).where(plausible).agg(F.min("d"), F.max("d")).collect()[0]
    if row[0] is None:
        raise InputMissingError(f"no event in {', '.join(paths)} has a time {layout.name} parses between {site_launch} and today; check --layout")
    return row[0], row[1]


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

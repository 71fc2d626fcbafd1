"""Historic loads: files spanning many days (a downloaded month) into bronze.events as daily deliveries would have put them.

Used by ``ecomlake backfill`` (:mod:`ecomlake.pipeline.backfill`): every record under its event's UTC day as
ingest_date, in one commit, so that clean's late-data window, bot rules and re-delivery check apply per day.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import BRONZE_EVENTS
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.ingest.layouts import Layout, configured_layout, parse_event_time, record_layout
from ecomlake.ingest.read import event_day, list_input_files, read_raw, to_bronze
from ecomlake.job import Context

log = logging.getLogger(__name__)


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

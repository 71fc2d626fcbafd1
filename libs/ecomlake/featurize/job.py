"""``ecomlake featurize``: silver events -> the gold tables, for a day or as a full rebuild.

Incremental (``--date D``): the daily tables (sessions, user_item_daily, daily_kpis) are recomputed
for D and for every earlier event day that got late rows in the ingest of D; the snapshot tables
(user_features, item_features, interactions) are rolled up from the daily tables as of D; labels
are written for the cut-off D - featurize.label_horizon_days, whose horizon ends on D. Each table's
slice is replaced in one Delta commit, so a re-run gives the same tables.

Full rebuild (``--full``): the daily tables from all of silver, and a snapshot for every day from the
first to the last event day, each table overwritten in one commit. It equals running every day in
order (tested), and is the way to apply a changed definition (e.g. new windows) to history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import DAILY_KPIS, INTERACTIONS, ITEM_FEATURES, LABELS, SESSIONS, SILVER_EVENTS, USER_FEATURES, USER_ITEM_DAILY, Table
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.featurize.activity import user_item_daily
from ecomlake.featurize.interactions import interactions
from ecomlake.featurize.items import item_features, with_popularity_ranks
from ecomlake.featurize.kpis import daily_kpis
from ecomlake.featurize.labels import labels
from ecomlake.featurize.sessions import sessions
from ecomlake.featurize.users import user_features, with_rfm_scores
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.vocabulary import SILVER_EVENT_COLUMNS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeaturizeParams:
    date: dt.date | None = None  # featurize this day incrementally
    full: bool = False  # or rebuild every gold table from all of silver

    def __post_init__(self) -> None:
        if self.full == (self.date is not None):
            raise ConfigError("featurize takes --date D or --full, not both")


@dataclass(frozen=True)
class FeaturizeResult:
    """What one featurize run wrote: the slices, their row counts and the day's funnel."""

    mode: str  # incremental | full
    event_dates: tuple[dt.date, ...]  # daily slices written
    snapshot_dates: tuple[dt.date, ...]  # as-of slices written
    label_cutoffs: tuple[dt.date, ...]
    rows: dict[str, int]  # rows written per table, from the Delta commits
    kpis: dict[str, Any]  # gold.daily_kpis of the last event day written

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> int:
        return sum(self.rows.values())

    def figures(self) -> Mapping[str, float]:
        return {f"rows_{table}": n for table, n in self.rows.items()} | {"event_days": len(self.event_dates)}

    def summary(self) -> str:
        k, days = self.kpis, self.event_dates
        label = f"{self.snapshot_dates[0]}" if self.mode == "incremental" else f"--full {days[0]}..{days[-1]}"
        lines = [
            f"featurize {label}: {len(days)} event day(s), {len(self.snapshot_dates)} snapshot(s), labels for {len(self.label_cutoffs)} cut-off(s)"
        ]
        lines += [f"  {table:<22} {n:>12,} rows written" for table, n in self.rows.items()]
        if k:
            lines.append(
                f"  {k['kpi_date']}: {k['sessions']:,} sessions by {k['active_users']:,} users ({k['new_users']:,} new); "
                f"{k['views']:,} views, {k['carts']:,} carts, {k['purchases']:,} purchases in {k['orders']:,} orders, GMV {k['gmv']:,.2f}"
            )
            lines.append(
                f"  funnel (sessions): view->cart {_pct(k['view_to_cart_rate'])}, cart->purchase {_pct(k['cart_to_purchase_rate'])}, "
                f"converted {_pct(k['conversion_rate'])}, bounce {_pct(k['bounce_rate'])}"
            )
        return "\n".join(lines)


def run(ctx: Context, params: FeaturizeParams) -> FeaturizeResult:
    """Featurize a day incrementally, or rebuild everything with ``full``.

    Raises InputMissingError when silver has nothing for the date, ConfigError when the stored
    gold schema no longer matches the config (changed windows need ``--full``).

    Example:
        >>> run(ctx, FeaturizeParams(dt.date(2019, 10, 1))).rows["gold.sessions"]  # the REES46 sample  # doctest: +SKIP
        2547
    """
    spark, config, fc = ctx.spark, ctx.config, ctx.config.featurize
    silver = lake.read(spark, config, SILVER_EVENTS).where(~F.col("is_bot")).select(*SILVER_EVENT_COLUMNS)  # flagged bots stay out of gold
    event_dates, snapshot_dates = _dates(ctx, params, silver)
    rows: dict[str, int] = {}

    def write(df: DataFrame, table: Table, column: str, dates: Sequence[dt.date]) -> None:
        rows[table.key] = lake.write(df, config, table, None if params.full else {column: list(dates)}, rebuild=params.full)

    day_events = silver.where(F.col("event_date").isin(event_dates))
    write(sessions(day_events, fc.session_gap_minutes, fc.dwell_cap_seconds), SESSIONS, "session_date", event_dates)
    extra = config.events.extra_types  # the site's own event types and their interaction weights
    write(user_item_daily(day_events, tuple(extra)), USER_ITEM_DAILY, "event_date", event_dates)
    session_history, activity_history = lake.read(spark, config, SESSIONS), lake.read(spark, config, USER_ITEM_DAILY)
    write(daily_kpis(session_history, activity_history, event_dates, tuple(extra)), DAILY_KPIS, "kpi_date", event_dates)

    def write_snapshots(make: Callable[[dt.date], DataFrame], finish: Callable[[DataFrame], DataFrame], table: Table) -> None:
        # The ranks and scores read the snapshots several times (a histogram, then a join): compute them once.
        # On local disk only, as clean's classified rows: at 100M events a memory-then-disk cache held
        # partly built blocks in the heap next to the sorts and ran a 4g JVM out of memory.
        snapshots = reduce(DataFrame.unionByName, [make(d) for d in snapshot_dates]).persist(StorageLevel.DISK_ONLY)
        try:
            write(finish(snapshots), table, "as_of_date", snapshot_dates)
        finally:
            snapshots.unpersist()

    write_snapshots(lambda d: user_features(session_history, activity_history, d, fc, tuple(extra)), with_rfm_scores, USER_FEATURES)
    write_snapshots(lambda d: item_features(activity_history, d, fc), lambda df: with_popularity_ranks(df, fc.windows_days), ITEM_FEATURES)
    write_snapshots(lambda d: interactions(activity_history, d, fc, extra), lambda df: df, INTERACTIONS)

    first_day = event_dates[0] if params.full else session_history.agg(F.min("session_date")).collect()[0][0]
    cutoffs = [c for c in (d - dt.timedelta(days=fc.label_horizon_days) for d in snapshot_dates) if c >= first_day]
    if cutoffs or params.full:  # a rebuild with nothing observable yet still leaves no stale labels behind
        made = [labels(session_history, c, fc.label_horizon_days) for c in cutoffs]
        write(reduce(DataFrame.unionByName, made) if made else spark.createDataFrame([], LABELS.schema().struct()), LABELS, "cutoff_date", cutoffs)
        if not cutoffs:
            del rows[LABELS.key]  # nothing to report: the rebuild only emptied it
    last = lake.read(spark, config, DAILY_KPIS, {"kpi_date": event_dates[-1]}, missing="empty").first()
    mode = "full" if params.full else "incremental"
    return FeaturizeResult(mode, tuple(event_dates), tuple(snapshot_dates), tuple(cutoffs), rows, last.asDict() if last else {})


def _dates(ctx: Context, params: FeaturizeParams, silver: DataFrame) -> tuple[list[dt.date], list[dt.date]]:
    """The event days to recompute and the as-of dates to snapshot; checks a day's slices fit the stored tables."""
    if params.full:
        event_dates = sorted(r[0] for r in silver.select("event_date").distinct().collect())
        if not event_dates:
            raise InputMissingError(f"{SILVER_EVENTS.qualified_name(ctx.config.lake)} is empty; run `ecomlake clean` first")
        return event_dates, [event_dates[0] + dt.timedelta(days=n) for n in range((event_dates[-1] - event_dates[0]).days + 1)]
    assert params.date is not None  # FeaturizeParams checks it
    touched = lake.read(ctx.spark, ctx.config, SILVER_EVENTS).where(
        (F.col("ingest_date") == F.lit(params.date)) | (F.col("event_date") == F.lit(params.date))
    )
    event_dates = sorted(r[0] for r in touched.select("event_date").distinct().collect())
    if not event_dates:
        raise InputMissingError(
            f"{SILVER_EVENTS.qualified_name(ctx.config.lake)} has no events on or ingested on {params.date}; "
            f"run `ecomlake clean --date {params.date}` first"
        )
    for table in (USER_FEATURES, ITEM_FEATURES):
        _check_stored_columns(ctx, table)
    return event_dates, [params.date]


def _check_stored_columns(ctx: Context, table: Table) -> None:
    """A day's slice must fit the stored table; changed windows change the columns."""
    stored, configured = lake.read(ctx.spark, ctx.config, table, missing="empty").columns, lake.schema_of(ctx.config, table).names
    if stored != configured:
        raise ConfigError(
            f"featurize.windows_days: {table.qualified_name(ctx.config.lake)} has other columns than this config makes "
            f"(differing: {', '.join(sorted(set(stored) ^ set(configured)))}), after a change of the windows or an upgrade "
            "that added columns; rebuild it with `ecomlake featurize --full`"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=iso_date, help="featurize this day incrementally (YYYY-MM-DD)")
    which.add_argument("--full", action="store_true", help="rebuild every gold table from all of silver")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


JOB = SparkJob(
    "featurize",
    "Build the gold tables (sessions, features, interactions, KPIs, labels) for a day, or rebuild them all",
    FeaturizeParams,
    run,
    add_arguments,
)

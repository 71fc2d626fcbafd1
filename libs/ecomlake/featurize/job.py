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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.featurize import schemas
from ecomlake.featurize.activity import user_item_daily
from ecomlake.featurize.interactions import interactions
from ecomlake.featurize.items import item_features, with_popularity_ranks
from ecomlake.featurize.kpis import daily_kpis
from ecomlake.featurize.labels import labels
from ecomlake.featurize.sessions import sessions
from ecomlake.featurize.users import user_features, with_rfm_scores
from ecomlake.job import Job, iso_date
from ecomlake.schema import TableSchema

log = logging.getLogger(__name__)

# Silver columns the gold tables are made of.
EVENT_COLUMNS = (
    "event_time", "event_date", "event_type", "user_id", "user_session", "product_id",
    "category_id", "category_code", "brand", "price", "order_id",
)  # fmt: skip


@dataclass(frozen=True)
class FeaturizeResult:
    """What one featurize run wrote: the slices, their row counts and the day's funnel."""

    mode: str  # incremental | full
    event_dates: tuple[dt.date, ...]  # daily slices written
    snapshot_dates: tuple[dt.date, ...]  # as-of slices written
    label_cutoffs: tuple[dt.date, ...]
    rows: dict[str, int]  # rows written per table
    kpis: dict[str, object]  # gold.daily_kpis of the last event day written
    seconds: float


def silver_events(spark: SparkSession, config: Config) -> DataFrame:
    """Silver's human events (bots flagged by clean are left out of every gold table)."""
    return lake.read_table(spark, config.lake, lake.SILVER_EVENTS).where(~F.col("is_bot")).select(*EVENT_COLUMNS)


def featurize(spark: SparkSession, config: Config, run_date: dt.date | None = None, full: bool = False) -> FeaturizeResult:
    """Featurize ``run_date`` incrementally, or rebuild everything with ``full``.

    Raises InputMissingError when silver has nothing for the date, ConfigError when the stored
    gold schema no longer matches the config (changed windows need ``--full``).

    Example:
        >>> featurize(spark, config, dt.date(2019, 10, 1)).rows["gold.sessions"]  # the REES46 sample  # doctest: +SKIP
        2547
    """
    if full == (run_date is not None):
        raise ValueError("give a run date or full=True, not both")
    t0 = time.perf_counter()
    fc = config.featurize
    user_schema, item_schema = schemas.user_features(fc.windows_days), schemas.item_features(fc.windows_days)
    silver = silver_events(spark, config)
    if full:
        event_dates = sorted(r[0] for r in silver.select("event_date").distinct().collect())
        if not event_dates:
            raise InputMissingError(f"{lake.SILVER_EVENTS.qualified_name(config.lake)} is empty; run `ecomlake clean` first")
        snapshot_dates = [event_dates[0] + dt.timedelta(days=n) for n in range((event_dates[-1] - event_dates[0]).days + 1)]
    else:
        assert run_date is not None
        touched = lake.read_table(spark, config.lake, lake.SILVER_EVENTS).where(
            (F.col("ingest_date") == F.lit(run_date)) | (F.col("event_date") == F.lit(run_date))
        )
        event_dates = sorted(r[0] for r in touched.select("event_date").distinct().collect())
        if not event_dates:
            raise InputMissingError(
                f"{lake.SILVER_EVENTS.qualified_name(config.lake)} has no events on or ingested on {run_date}; "
                f"run `ecomlake clean --date {run_date}` first"
            )
        for table, schema in ((lake.USER_FEATURES, user_schema), (lake.ITEM_FEATURES, item_schema)):
            _check_stored_schema(spark, config, table, schema)
        snapshot_dates = [run_date]

    def write(df: DataFrame, table: lake.Table, schema: TableSchema, column: str, dates: Sequence[dt.date]) -> None:
        t = time.perf_counter()
        if full:
            lake.write_table(df, config.lake, table, schema=schema, overwrite_schema=True)
        else:
            lake.write_table(df, config.lake, table, schema=schema, replace_where=_in_dates(column, dates))
        log.info("featurize: wrote %s (%s) in %.1f s", table.qualified_name(config.lake), _in_dates(column, dates), time.perf_counter() - t)

    day_events = silver.where(F.col("event_date").isin(event_dates))
    write(sessions(day_events, fc.session_gap_minutes, fc.dwell_cap_seconds), lake.SESSIONS, schemas.SESSIONS, "session_date", event_dates)
    write(user_item_daily(day_events), lake.USER_ITEM_DAILY, schemas.USER_ITEM_DAILY, "event_date", event_dates)
    session_history = lake.read_table(spark, config.lake, lake.SESSIONS)
    activity_history = lake.read_table(spark, config.lake, lake.USER_ITEM_DAILY)
    write(daily_kpis(session_history, event_dates), lake.DAILY_KPIS, schemas.DAILY_KPIS, "kpi_date", event_dates)

    def write_snapshots(
        make: Callable[[dt.date], DataFrame], finish: Callable[[DataFrame], DataFrame], table: lake.Table, schema: TableSchema
    ) -> None:
        snapshots = reduce(DataFrame.unionByName, [make(d) for d in snapshot_dates])
        # The ranks and scores read the snapshots several times (a histogram, then a join): compute them once.
        # On local disk only, as clean's classified rows: at 100M events a memory-then-disk cache held
        # partly built blocks in the heap next to the sorts and ran a 4g JVM out of memory.
        snapshots = snapshots.persist(StorageLevel.DISK_ONLY)
        try:
            write(finish(snapshots), table, schema, "as_of_date", snapshot_dates)
        finally:
            snapshots.unpersist()

    write_snapshots(lambda d: user_features(session_history, activity_history, d, fc), with_rfm_scores, lake.USER_FEATURES, user_schema)
    write_snapshots(
        lambda d: item_features(activity_history, d, fc), lambda df: with_popularity_ranks(df, fc.windows_days), lake.ITEM_FEATURES, item_schema
    )
    write_snapshots(lambda d: interactions(activity_history, d, fc), lambda df: df, lake.INTERACTIONS, schemas.INTERACTIONS)

    first_day = event_dates[0] if full else session_history.agg(F.min("session_date")).first()[0]
    cutoffs = [c for c in (d - dt.timedelta(days=fc.label_horizon_days) for d in snapshot_dates) if c >= first_day]
    if cutoffs:
        write(
            reduce(DataFrame.unionByName, [labels(session_history, c, fc.label_horizon_days) for c in cutoffs]),
            lake.LABELS,
            schemas.LABELS,
            "cutoff_date",
            cutoffs,
        )
    elif full:  # nothing observable yet: a rebuild still leaves no stale labels behind
        write(spark.createDataFrame([], schemas.LABELS.struct()), lake.LABELS, schemas.LABELS, "cutoff_date", cutoffs)

    written = [lake.SESSIONS, lake.USER_ITEM_DAILY, lake.DAILY_KPIS, lake.USER_FEATURES, lake.ITEM_FEATURES, lake.INTERACTIONS]
    rows = {f"{t.layer}.{t.name}": lake.last_commit_rows(spark, config.lake, t) for t in written + ([lake.LABELS] if cutoffs else [])}
    last_kpis = lake.read_table(spark, config.lake, lake.DAILY_KPIS).where(F.col("kpi_date") == F.lit(event_dates[-1])).first()
    return FeaturizeResult(
        mode="full" if full else "incremental",
        event_dates=tuple(event_dates),
        snapshot_dates=tuple(snapshot_dates),
        label_cutoffs=tuple(cutoffs),
        rows=rows,
        kpis=last_kpis.asDict() if last_kpis else {},
        seconds=time.perf_counter() - t0,
    )


def _in_dates(column: str, dates: Sequence[dt.date]) -> str:
    return f"{column} IN ({', '.join(repr(str(d)) for d in dates)})" if dates else "false"


def _check_stored_schema(spark: SparkSession, config: Config, table: lake.Table, schema: TableSchema) -> None:
    """A day's slice must fit the stored table; changed windows change the columns."""
    if lake.table_exists(spark, config.lake, table):
        stored = lake.read_table(spark, config.lake, table).columns
        if stored != schema.names:
            changed = sorted(set(stored) ^ set(schema.names))
            raise ConfigError(
                f"featurize.windows_days: {table.qualified_name(config.lake)} has other columns than this config makes "
                f"(differing: {', '.join(changed)}); rebuild it with `ecomlake featurize --full`"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=iso_date, help="featurize this day incrementally (YYYY-MM-DD)")
    which.add_argument("--full", action="store_true", help="rebuild every gold table from all of silver")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> FeaturizeResult:
    assert spark is not None
    r = featurize(spark, config, args.date, full=args.full)
    k = r.kpis
    label = f"{args.date}" if args.date else f"--full {r.event_dates[0]}..{r.event_dates[-1]}"
    print(
        f"featurize {label}: {len(r.event_dates)} event day(s), {len(r.snapshot_dates)} snapshot(s), "
        f"labels for {len(r.label_cutoffs)} cut-off(s) in {r.seconds:.1f} s"
    )
    for table, n in r.rows.items():
        print(f"  {table:<22} {n:>12,} rows written")
    if k:
        print(
            f"  {k['kpi_date']}: {k['sessions']:,} sessions by {k['active_users']:,} users ({k['new_users']:,} new); "
            f"{k['views']:,} views, {k['carts']:,} carts, {k['purchases']:,} purchases in {k['orders']:,} orders, GMV {k['gmv']:,.2f}"
        )
        print(
            f"  funnel (sessions): view->cart {_pct(k['view_to_cart_rate'])}, cart->purchase {_pct(k['cart_to_purchase_rate'])}, "
            f"converted {_pct(k['conversion_rate'])}, bounce {_pct(k['bounce_rate'])}"
        )
    return r


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


JOB = Job("featurize", "Build the gold tables (sessions, features, interactions, KPIs, labels) for a day, or rebuild them all", add_arguments, run)

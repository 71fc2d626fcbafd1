"""A lake under real deliveries: a historic multi-day file through ``backfill`` against the same rows delivered
day by day (generated events with faults, and the real REES46 sample spread over two days), a day's files
delivered again the next day, a site's own event type, and clean reading the layout bronze recorded.

Two lakes: ``daily_lake`` (tests/spark/conftest.py: a folder per event day, ``ingest`` then ``clean`` and
``featurize`` for each day, day 1's file delivered again in day 2's folder) and ``backfilled`` (the same lines in
one file, ``ecomlake backfill``). Every silver, quarantine and gold table must be the same, row for row, apart
from the columns that name the delivery (file, run, time of ingest).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ecomlake import lake
from ecomlake.catalog import (
    BRONZE_EVENTS,
    DAILY_KPIS,
    INTERACTIONS,
    ITEM_FEATURES,
    LABELS,
    LAYOUTS,
    QUARANTINE,
    RUN_AUDIT,
    SESSIONS,
    SILVER_EVENTS,
    USER_FEATURES,
    USER_ITEM_DAILY,
    Table,
)  # fmt: skip
from ecomlake.config import Config
from ecomlake.errors import InputMissingError
from ecomlake.ingest.layouts import load_layout
from tests.support import DELIVERY_DAYS, DELIVERY_HORIZON, EXTRA_TYPE, SHOP_LAYOUT, DailyLake, copy_lake, lake_config, run_job

D1, D2 = DELIVERY_DAYS
GOLD_TABLES = (SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS, LABELS)
# Columns that say how a row was delivered, not what it is: they differ between the two lakes by design.
DELIVERY_COLUMNS = ("source_file", "run_id", "ingested_at", "computed_at", "created_at")


@pytest.fixture(scope="module")
def backfilled(spark: SparkSession, config: Config, daily_lake: DailyLake, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The daily lake's lines as one historic file, through ``ecomlake backfill`` to featurize."""
    cfg = lake_config(config, tmp_path_factory.mktemp("backfilled"), EXTRA_TYPE, DELIVERY_HORIZON, f"ingest.layout={daily_lake.layout_file}")
    result = run_job(spark, cfg, "backfill", paths=(str(daily_lake.history),), start=D1, end=D2, through="featurize")
    assert result.loaded.rows_per_day == daily_lake.rows_per_day
    return cfg


def content(spark: SparkSession, cfg: Config, table: Table) -> DataFrame:
    df = lake.read(spark, cfg, table)
    return df.drop(*[c for c in DELIVERY_COLUMNS if c in df.columns])


@pytest.mark.parametrize("table", [SILVER_EVENTS, QUARANTINE, *GOLD_TABLES], ids=lambda t: t.key)
def test_backfill_gives_the_lake_daily_deliveries_give(spark: SparkSession, daily_lake: DailyLake, backfilled: Config, table: Table) -> None:
    backfill, daily = content(spark, backfilled, table), content(spark, daily_lake.cfg, table)
    assert backfill.count() > 0
    assertDataFrameEqual(backfill, daily)


def test_conservation_figures_agree_and_the_resent_file_is_counted_as_redelivered(
    spark: SparkSession, daily_lake: DailyLake, backfilled: Config
) -> None:
    figures = ("rows_in", "rows_kept", "rows_quarantined", "duplicates_exact", "duplicates_near", "duplicates_redelivered", "bot_rows_removed")

    def audit(cfg: Config) -> dict[dt.date, dict[str, int]]:
        rows = lake.read(spark, cfg, RUN_AUDIT).where(F.col("status") == "succeeded").collect()
        return {r["run_date"]: {f: r[f] for f in figures} | dict(r["quarantined_by_reason"]) for r in rows}

    backfill, daily = audit(backfilled), audit(daily_lake.cfg)
    assert backfill[D1] == daily[D1]
    assert backfill[D2]["duplicates_redelivered"] == 0
    resent = daily_lake.redelivered_rows
    assert daily[D2] == backfill[D2] | {"rows_in": backfill[D2]["rows_in"] + resent, "duplicates_redelivered": resent}
    for counts in (*backfill.values(), *daily.values()):
        accounted = sum(counts[f] for f in figures[1:])
        assert accounted == counts["rows_in"]


def test_the_sites_own_event_type_is_kept_counted_and_undeclared_ones_quarantined(spark: SparkSession, daily_lake: DailyLake) -> None:
    silver = lake.read(spark, daily_lake.cfg, SILVER_EVENTS)
    wishlists = {r["event_date"]: r["count"] for r in silver.where(F.col("event_type") == "wishlist").groupBy("event_date").count().collect()}
    assert sum(wishlists.values()) > 0
    kpis = {r["kpi_date"]: r["extra_events"] for r in lake.read(spark, daily_lake.cfg, DAILY_KPIS).collect()}
    assert {d: kpis[d]["wishlist"] for d in wishlists} == wishlists
    features = lake.read(spark, daily_lake.cfg, USER_FEATURES, {"as_of_date": D2})
    assert features.agg(F.sum(F.col("extra_events")["wishlist"])).first()[0] == sum(wishlists.values())
    unknown = lake.read(spark, daily_lake.cfg, QUARANTINE).where(F.col("reason") == "unknown_event_type")
    assert {r[0] for r in unknown.select("event_type").distinct().collect()} <= {"click", "share", "compare"}
    assert unknown.count() > 0


def test_clean_reads_the_recorded_layout_and_names_a_changed_file(
    spark: SparkSession, daily_lake: DailyLake, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    bronze = lake.read(spark, daily_lake.cfg, BRONZE_EVENTS).select("source_layout", "layout_hash").distinct().collect()
    assert [(r[0], r[1]) for r in bronze] == [("shop", load_layout(str(daily_lake.layout_file)).digest)]
    changed = tmp_path / "shop.yaml"
    changed.write_text(SHOP_LAYOUT.replace("description:", "description: edited,"))
    edited = copy_lake(daily_lake.cfg, tmp_path / "lake", EXTRA_TYPE, DELIVERY_HORIZON, f"ingest.layout={changed}")
    before = content(spark, edited, SILVER_EVENTS).where(F.col("ingest_date") == D1)
    with caplog.at_level(logging.WARNING, logger="ecomlake.clean.job"):
        run_job(spark, edited, "clean", date=D1)
    assert f"layout shop: {changed} has changed since the rows were ingested" in caplog.text
    assertDataFrameEqual(content(spark, edited, SILVER_EVENTS).where(F.col("ingest_date") == D1), before)
    # A day whose recorded layout is gone, or ingested before layouts were recorded (an earlier version's lake): re-ingest it.
    DeltaTable.forPath(spark, LAYOUTS.path(edited.lake)).delete()
    with pytest.raises(InputMissingError, match=r"^bronze.layouts has no layout version \w+, which bronze rows were read with; re-ingest the day$"):
        run_job(spark, edited, "clean", date=D1)
    DeltaTable.forPath(spark, BRONZE_EVENTS.path(edited.lake)).update(F.col("ingest_date") == F.lit(D1), {"layout_hash": F.lit(None)})
    with pytest.raises(InputMissingError, match=r"ingested before layouts were recorded \(no layout_hash\); re-ingest the day$"):
        run_job(spark, edited, "clean", date=D1)
    assertDataFrameEqual(content(spark, edited, SILVER_EVENTS).where(F.col("ingest_date") == D1), before)

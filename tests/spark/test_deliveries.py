"""A lake under real deliveries: a historic multi-day file through ``backfill`` against the same rows delivered
day by day (generated events with faults, and the real REES46 sample spread over two days), a day's files
delivered again the next day, a site's own event type, and clean reading the layout bronze recorded.

Two lakes, built once for the module: ``backfilled`` (one file, ``ecomlake backfill``) and ``daily`` (a folder
per event day, ``ingest`` then ``clean`` and ``featurize`` for each day, day 1's file delivered again in day
2's folder). Every silver, quarantine and gold table must be the same, row for row, apart from the columns
that name the delivery (file, run, time of ingest).
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ecomlake import lake
from ecomlake.catalog import (
    BRONZE_EVENTS,
    DAILY_KPIS,
    INTERACTIONS,
    ITEM_FEATURES,
    QUARANTINE,
    RUN_AUDIT,
    SESSIONS,
    SILVER_EVENTS,
    USER_FEATURES,
    USER_ITEM_DAILY,
    Table,
)  # fmt: skip
from ecomlake.config import Config
from ecomlake.datasets import rees46_oct_head
from ecomlake.ingest.layouts import load_layout
from tests.support import lake_config, run_job

D1, D2 = dt.date(2019, 10, 1), dt.date(2019, 10, 2)
DAYS = (D1, D2)
GOLD_TABLES = (SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS)  # no labels: two days are short of the horizon
# The shop's layout: REES46's, under its own name, mapping the site's wishlist events onto a declared extra type.
SHOP_LAYOUT = load_layout("rees46").text.replace("name: rees46", "name: shop") + "  wishlist: wishlist\n"
EXTRA = "events.extra_types.wishlist=2.0"
# Columns that say how a row was delivered, not what it is: they differ between the two lakes by design.
DELIVERY_COLUMNS = ("source_file", "run_id", "ingested_at", "computed_at", "created_at")


@dataclass(frozen=True)
class Lakes:
    backfilled: Config
    daily: Config  # clean and featurize without the layout: they read it from bronze.layouts
    daily_ingest: Config  # ingest with the layout file
    layout_file: Path
    redelivered_rows: int  # day 1's records, delivered again in day 2's folder


def day_of(line: list[str]) -> dt.date:
    """The event day a line belongs to, as backfill assigns it: its UTC day, clamped to DAYS (unparseable: the first)."""
    try:
        day = dt.datetime.strptime(line[0], "%Y-%m-%d %H:%M:%S UTC").date()
    except (ValueError, IndexError):
        return D1
    return min(max(day, D1), D2)


def history_lines(spark: SparkSession, cfg: Config, root: Path) -> tuple[list[str], list[list[str]]]:
    """Generated events of two days (faults injected, no malformed lines) and the real REES46 sample, its later
    half moved to the next day: the header and the lines, in file order."""
    landing = run_job(spark, cfg, "generate").output
    header: list[str] = []
    lines: list[list[str]] = []
    for path in sorted(Path(landing.removeprefix("file:")).glob("event_date=*/*.csv")):
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            lines += list(reader)
    with rees46_oct_head().open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == header
        for row in reader:
            when = dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S UTC")
            if when.hour * 60 + when.minute >= 85:  # 00:00-01:24 stays on day 1, 01:25-02:50 moves to day 2
                row[0] = (when + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S UTC")
            lines.append(row)
    return header, lines


def write_csv(path: Path, header: list[str], lines: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(lines)
    return path


@pytest.fixture(scope="module")
def lakes(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> Lakes:
    root = tmp_path_factory.mktemp("deliveries")
    layout_file = root / "shop.yaml"
    layout_file.write_text(SHOP_LAYOUT)
    generator = [
        "generator.events=3000", "generator.users=150", "generator.products=200", f"generator.start_date={D1}", "generator.days=2",
        "generator.faults.malformed=0", "generator.faults.unknown_event_type=0.03",
        "generator.bot_user_rate=0.02", f"generator.output={root / 'generated'}",
    ]  # fmt: skip
    header, lines = history_lines(spark, lake_config(config, root / "gen", *generator), root)
    history = write_csv(root / "history" / "2019-Oct.csv", header, lines)
    per_day = {d: write_csv(root / "daily" / f"event_date={d}" / "events.csv", header, [ln for ln in lines if day_of(ln) == d]) for d in DAYS}
    # Day 1's file again in day 2's folder: a re-sent export.
    again = write_csv(root / "daily" / f"event_date={D2}" / "resent-events.csv", header, [ln for ln in lines if day_of(ln) == D1])

    backfilled = lake_config(config, root / "backfilled", EXTRA, f"ingest.layout={layout_file}")
    result = run_job(spark, backfilled, "backfill", paths=(str(history),), start=D1, end=D2, through="featurize")
    assert result.loaded.rows_per_day == {d: sum(1 for ln in lines if day_of(ln) == d) for d in DAYS}

    daily = lake_config(config, root / "daily-lake", EXTRA)
    daily_ingest = lake_config(config, root / "daily-lake", EXTRA, f"ingest.layout={layout_file}")
    for d in DAYS:
        run_job(spark, daily_ingest, "ingest", date=d, paths=(str(per_day[d].parent),))
        run_job(spark, daily, "clean", date=d)
        run_job(spark, daily, "featurize", date=d)
    return Lakes(backfilled, daily, daily_ingest, layout_file, sum(1 for _ in again.open()) - 1)


def content(spark: SparkSession, cfg: Config, table: Table) -> DataFrame:
    df = lake.read(spark, cfg, table)
    return df.drop(*[c for c in DELIVERY_COLUMNS if c in df.columns])


@pytest.mark.parametrize("table", [SILVER_EVENTS, QUARANTINE, *GOLD_TABLES], ids=lambda t: t.key)
def test_backfill_gives_the_lake_daily_deliveries_give(spark: SparkSession, lakes: Lakes, table: Table) -> None:
    backfilled, daily = content(spark, lakes.backfilled, table), content(spark, lakes.daily, table)
    assert backfilled.count() > 0
    assertDataFrameEqual(backfilled, daily)


def test_conservation_figures_agree_and_the_resent_file_is_counted_as_redelivered(spark: SparkSession, lakes: Lakes) -> None:
    figures = ("rows_in", "rows_kept", "rows_quarantined", "duplicates_exact", "duplicates_near", "duplicates_redelivered", "bot_rows_removed")

    def audit(cfg: Config) -> dict[dt.date, dict[str, int]]:
        rows = lake.read(spark, cfg, RUN_AUDIT).where(F.col("status") == "succeeded").collect()
        return {r["run_date"]: {f: r[f] for f in figures} | dict(r["quarantined_by_reason"]) for r in rows}

    backfilled, daily = audit(lakes.backfilled), audit(lakes.daily)
    assert backfilled[D1] == daily[D1]
    assert backfilled[D2]["duplicates_redelivered"] == 0
    resent = lakes.redelivered_rows
    assert daily[D2] == backfilled[D2] | {"rows_in": backfilled[D2]["rows_in"] + resent, "duplicates_redelivered": resent}
    for counts in (*backfilled.values(), *daily.values()):
        accounted = sum(counts[f] for f in figures[1:])
        assert accounted == counts["rows_in"]


def test_the_sites_own_event_type_is_kept_counted_and_undeclared_ones_quarantined(spark: SparkSession, lakes: Lakes) -> None:
    silver = lake.read(spark, lakes.daily, SILVER_EVENTS)
    wishlists = {r["event_date"]: r["count"] for r in silver.where(F.col("event_type") == "wishlist").groupBy("event_date").count().collect()}
    assert sum(wishlists.values()) > 0
    kpis = {r["kpi_date"]: r["extra_events"] for r in lake.read(spark, lakes.daily, DAILY_KPIS).collect()}
    assert {d: kpis[d]["wishlist"] for d in wishlists} == wishlists
    features = lake.read(spark, lakes.daily, USER_FEATURES, {"as_of_date": D2})
    assert features.agg(F.sum(F.col("extra_events")["wishlist"])).first()[0] == sum(wishlists.values())
    unknown = lake.read(spark, lakes.daily, QUARANTINE).where(F.col("reason") == "unknown_event_type")
    assert {r[0] for r in unknown.select("event_type").distinct().collect()} <= {"click", "share", "compare"}
    assert unknown.count() > 0


def test_clean_reads_the_recorded_layout_and_names_a_changed_file(
    spark: SparkSession, lakes: Lakes, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    bronze = lake.read(spark, lakes.daily, BRONZE_EVENTS).select("source_layout", "layout_hash").distinct().collect()
    assert [(r[0], r[1]) for r in bronze] == [("shop", load_layout(str(lakes.layout_file)).digest)]
    before = content(spark, lakes.daily, SILVER_EVENTS).where(F.col("ingest_date") == D1)
    changed = tmp_path / "shop.yaml"
    changed.write_text(SHOP_LAYOUT.replace("description:", "description: edited,"))
    edited = lake_config(lakes.daily, Path(lakes.daily.lake.root), EXTRA, f"ingest.layout={changed}")
    with caplog.at_level(logging.WARNING, logger="ecomlake.clean.job"):
        run_job(spark, edited, "clean", date=D1)
    assert f"layout shop: {changed} has changed since the rows were ingested" in caplog.text
    assertDataFrameEqual(content(spark, lakes.daily, SILVER_EVENTS).where(F.col("ingest_date") == D1), before)

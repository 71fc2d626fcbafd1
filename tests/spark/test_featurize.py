"""Featurize on real Spark and Delta: the REES46 sample checked by hand, documented schemas,
point-in-time snapshots, and day-by-day runs equal to a full rebuild over generated days."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import datasets, lake
from ecomlake.catalog import (
    DAILY_KPIS,
    INTERACTIONS,
    ITEM_FEATURES,
    LABELS,
    RUN_LEDGER,
    SESSIONS,
    SILVER_EVENTS,
    USER_FEATURES,
    USER_ITEM_DAILY,
    Table,
)
from ecomlake.clean.job import CleanParams
from ecomlake.clean.job import run as clean_run
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.featurize.job import FeaturizeParams, FeaturizeResult
from ecomlake.featurize.job import run as featurize_run
from ecomlake.ingest.job import IngestParams
from ecomlake.ingest.job import run as ingest_run
from ecomlake.job import Context
from ecomlake.propensity.dataset import labelled
from ecomlake.schema import spark_type
from tests.support import DELIVERY_DAYS, DELIVERY_HORIZON, EXTRA_TYPE, DailyLake, copy_lake, lake_config, run_job, sorted_rows

REES46_DAY = dt.date(2019, 10, 1)
GOLD = (SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS, LABELS)


def table(spark: SparkSession, cfg: Config, t: Table) -> DataFrame:
    return lake.read(spark, cfg, t)


def featurize(spark: SparkSession, cfg: Config, day: dt.date | None = None, full: bool = False) -> FeaturizeResult:
    """``ecomlake featurize --date D`` (or ``--full``), run directly."""
    return featurize_run(Context(spark, cfg), FeaturizeParams(day, full=full))


def ingest_and_clean(spark: SparkSession, cfg: Config, day: dt.date, *paths: str) -> None:
    ctx = Context(spark, cfg)
    ingest_run(ctx, IngestParams(day, paths))
    clean_run(ctx, CleanParams(day))


def user(spark: SparkSession, cfg: Config, user_id: int) -> dict[str, Any]:
    (row,) = table(spark, cfg, USER_FEATURES).where(F.col("user_id") == user_id).collect()
    return row.asDict(recursive=True)


# ---- the real REES46 sample, checked by hand -----------------------------------------------------


@pytest.fixture(scope="module")
def rees46(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, FeaturizeResult]:
    cfg = lake_config(config, tmp_path_factory.mktemp("rees46"))
    ingest_and_clean(spark, cfg, REES46_DAY, str(datasets.rees46_oct_head()))
    return cfg, featurize(spark, cfg, REES46_DAY)


def test_rees46_sessions_and_funnel_figures(spark: SparkSession, rees46: tuple[Config, FeaturizeResult]) -> None:
    cfg, result = rees46
    k = result.kpis
    print(
        f"\nREES46 sample {REES46_DAY}: {k['sessions']:,} sessions, {k['active_users']:,} users, {k['views']:,} views, {k['carts']:,} carts, "
        f"{k['purchases']:,} purchases in {k['orders']:,} orders, GMV {k['gmv']:,.2f}; funnel view->cart {k['view_to_cart_rate']:.3f}, "
        f"cart->purchase {k['cart_to_purchase_rate']:.3f}, conversion {k['conversion_rate']:.3f}"
    )
    # 17,420 silver rows; the counts by type come from silver itself, the sessions from a plain-Python
    # sessionisation of the same rows below.
    silver = table(spark, cfg, SILVER_EVENTS)
    by_type = dict(silver.groupBy("event_type").count().collect())
    assert (k["events"], k["views"], k["carts"], k["removes"], k["purchases"]) == (17_420, by_type["view"], by_type["cart"], 0, by_type["purchase"])
    assert k["sessions"] == result.rows["gold.sessions"] == _python_session_count(silver) == 5_067
    assert (k["active_users"], k["new_users"], k["returning_users"]) == (4_504, 4_504, 0)
    assert k["gmv"] == pytest.approx(silver.where("event_type = 'purchase'").agg(F.sum("price")).first()[0])
    assert result.rows["gold.user_features"] == 4_504 and result.label_cutoffs == ()
    assert (result.mode, result.event_dates, result.snapshot_dates) == ("incremental", (REES46_DAY,), (REES46_DAY,))
    assert set(result.rows) == {t.key for t in GOLD[:-1]}  # no labels: no cut-off has its horizon behind it yet
    assert result.rows_out == sum(result.rows.values()) and result.figures()["rows_gold.sessions"] == 5_067


def _python_session_count(silver: DataFrame) -> int:
    """Sessions counted without Spark: per user and source session, split at gaps over 30 minutes."""
    times: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    for r in silver.select("user_id", "user_session", "event_time").collect():
        times[(r.user_id, r.user_session or "")].append(r.event_time)
    return sum(1 + sum((b - a).total_seconds() > 1800 for a, b in zip(sorted(ts), sorted(ts)[1:], strict=False)) for ts in times.values())


def test_rees46_two_sessions_user_by_hand(spark: SparkSession, rees46: tuple[Config, FeaturizeResult]) -> None:
    cfg, _ = rees46
    # User 549614436: source session 129d... 02:21:44-02:24:06 (5 views, cart and purchase of a 151.61
    # clock), then 6f43... 02:24:32-02:25:36 (2 views, cart and purchase of a 29.51 xiaomi product
    # without category code).
    u = user(spark, cfg, 549614436)
    assert (u["sessions"], u["orders"], u["events"], u["views"], u["carts"], u["purchases"]) == (2, 2, 11, 7, 2, 2)
    assert u["revenue"] == pytest.approx(181.12) and u["avg_order_value"] == pytest.approx(90.56)
    assert u["avg_session_seconds"] == pytest.approx((142 + 64) / 2)
    assert u["avg_dwell_seconds"] == pytest.approx((142 + 64) / (6 + 3))  # no gap reaches the 600 s cap
    assert u["cart_abandonment_rate"] == 0.0
    assert u["view_to_cart_rate"] == pytest.approx(2 / 3) and u["cart_to_purchase_rate"] == 1.0  # 3 products viewed, 2 carted, both bought
    assert u["avg_price_viewed"] == pytest.approx((2 * 151.61 + 360.08 + 4 * 29.51) / 7)
    assert u["avg_price_bought"] == pytest.approx(90.56) and u["price_ratio"] == pytest.approx(90.56 / ((2 * 151.61 + 360.08 + 4 * 29.51) / 7))
    assert u["top_categories"] == [
        {"rank": 1, "name": "electronics.clocks", "share": pytest.approx(4 / 11)},
        {"rank": 2, "name": "electronics.smartphone", "share": pytest.approx(1 / 11)},
    ]  # the 6 events of the product without a category code are `unknown`, left out
    assert [(b["name"], b["share"]) for b in u["top_brands"]] == [
        ("xiaomi", pytest.approx(6 / 11)),
        ("samsung", pytest.approx(4 / 11)),
        ("apple", pytest.approx(1 / 11)),
    ]
    assert (u["preferred_hour"], u["preferred_weekday"], u["recency_days"], u["tenure_days"], u["active_days"]) == (2, 2, 0, 0, 1)  # a Tuesday
    assert u["r_score"] == 3  # every user was active on the one day: a tie in the middle
    assert u["last_purchase_time"] == dt.datetime(2019, 10, 1, 2, 25, 7) and u["days_since_last_purchase"] == 0
    sessions = table(spark, cfg, SESSIONS).where(F.col("user_id") == 549614436).orderBy("session_start").collect()
    assert [(s.events, s.views, s.carts, s.purchases, s.duration_seconds, s.revenue, s.distinct_products) for s in sessions] == [
        (7, 5, 1, 1, 142.0, pytest.approx(151.61), 3),
        (4, 2, 1, 1, 64.0, pytest.approx(29.51), 1),
    ]
    assert sessions[0].source_session_id.startswith("129d379f") and sessions[1].source_session_id.startswith("6f43be89")


def test_rees46_one_session_users_by_hand(spark: SparkSession, rees46: tuple[Config, FeaturizeResult]) -> None:
    cfg, _ = rees46
    # User 513489079: one session 02:19:29-02:33:51 (862 s): a printer viewed twice, carted three
    # times and bought (116.73), then a canon printer and three refrigerators viewed.
    u = user(spark, cfg, 513489079)
    assert (u["sessions"], u["events"], u["views"], u["carts"], u["purchases"], u["orders"]) == (1, 10, 6, 3, 1, 1)
    assert u["avg_session_seconds"] == 862.0 and u["avg_dwell_seconds"] == pytest.approx(862 / 9)
    assert u["view_to_cart_rate"] == pytest.approx(1 / 5) and u["cart_to_purchase_rate"] == 1.0
    assert u["avg_price_viewed"] == pytest.approx((2 * 116.73 + 118.38 + 228.47 + 147.67 + 172.44) / 6)
    assert [(c["name"], c["share"]) for c in u["top_categories"]] == [
        ("computers.peripherals.printer", pytest.approx(0.7)),
        ("appliances.kitchen.refrigerators", pytest.approx(0.3)),
    ]
    # User 555110488: one session of 485 s; two phones each viewed, carted and bought (one twice): 3
    # purchases, one order (no order ids in REES46), 525.62 revenue.
    u = user(spark, cfg, 555110488)
    assert (u["sessions"], u["views"], u["carts"], u["purchases"], u["orders"]) == (1, 4, 3, 3, 1)
    assert u["revenue"] == pytest.approx(525.62) and u["avg_order_value"] == pytest.approx(525.62)
    assert u["avg_price_bought"] == pytest.approx(525.62 / 3) and u["avg_price_viewed"] == pytest.approx((2 * 197.43 + 2 * 130.76) / 4)
    assert u["avg_dwell_seconds"] == pytest.approx(485 / 9) and u["view_to_cart_rate"] == 1.0
    assert u["top_categories"] == [{"rank": 1, "name": "electronics.smartphone", "share": 1.0}]
    # Of the sample's buyers this one has the most revenue among those with one order: top M fifth.
    assert u["m_score"] == 5 and u["f_score"] in (1, 2, 3) and u["rfm_segment"] == f"3{u['f_score']}5"


def test_gold_tables_carry_the_documented_schema(spark: SparkSession, rees46: tuple[Config, FeaturizeResult]) -> None:
    cfg, _ = rees46
    from delta.tables import DeltaTable

    for t in GOLD[:-1]:
        schema = t.schema(cfg.featurize.windows_days)
        stored = table(spark, cfg, t).schema
        assert [(f.name, f.dataType.simpleString()) for f in stored] == [(f.name, spark_type(f.type).simpleString()) for f in schema.fields], t
        assert [f.metadata.get("comment") for f in stored] == [f.comment for f in schema.fields], f"{t.key}: a column without its comment"
        assert DeltaTable.forPath(spark, t.path(cfg.lake)).detail().first()["description"] == schema.description
        assert DeltaTable.forPath(spark, t.path(cfg.lake)).detail().first()["partitionColumns"] == list(t.partition_by)
    assert not lake.exists(spark, cfg.lake, LABELS)
    comments = {r.col_name: r.comment for r in spark.sql(f"DESCRIBE TABLE {USER_FEATURES.qualified_name(cfg.lake)}").collect()}
    assert comments["recency_days"] == "as_of_date minus the last event's day (0: active on as_of_date) [days]"


def test_missing_day_and_changed_windows_are_clear_errors(spark: SparkSession, rees46: tuple[Config, FeaturizeResult]) -> None:
    cfg, _ = rees46
    with pytest.raises(InputMissingError) as err:
        featurize(spark, cfg, dt.date(2019, 10, 5))
    assert str(err.value) == "ecomlake.silver_events has no events on or ingested on 2019-10-05; run `ecomlake clean --date 2019-10-05` first"
    changed = dataclasses.replace(cfg, featurize=dataclasses.replace(cfg.featurize, windows_days=(7, 28)))
    with pytest.raises(ConfigError) as err:
        featurize(spark, changed, REES46_DAY)
    assert str(err.value) == (
        "featurize.windows_days: ecomlake.gold_user_features has other columns than this config makes (differing: carts_28d, carts_30d, "
        "carts_90d, extra_events_28d, extra_events_30d, extra_events_90d, purchases_28d, purchases_30d, purchases_90d, sessions_28d, "
        "sessions_30d, sessions_90d, views_28d, views_30d, "
        "views_90d), after a change of the windows or an upgrade that added columns; rebuild it with `ecomlake featurize --full`"
    )
    for both_or_neither in ({"date": REES46_DAY, "full": True}, {}):
        with pytest.raises(ConfigError, match=r"^featurize takes --date D or --full, not both$"):
            FeaturizeParams(**both_or_neither)


# ---- generated days: point in time, and day by day equals a full rebuild --------------------------

DAYS = list(DELIVERY_DAYS)


@pytest.fixture(scope="module")
def daily(spark: SparkSession, daily_lake: DailyLake, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shop's two days featurised one day at a time (daily_lake: horizon 1 day), then a copy rebuilt with ``--full``."""
    incremental = {t.key: sorted_rows(table(spark, daily_lake.cfg, t)) for t in GOLD}
    cfg = copy_lake(daily_lake.cfg, tmp_path_factory.mktemp("rebuilt") / "lake", EXTRA_TYPE, DELIVERY_HORIZON)
    full = run_job(spark, cfg, "featurize", full=True)  # through the job runner, as `ecomlake featurize --full`: its run recorded
    return {"cfg": cfg, "results": daily_lake.featurized, "snapshots": daily_lake.snapshots, "incremental": incremental, "full": full}


def test_day_by_day_equals_full_rebuild(spark: SparkSession, daily: dict[str, Any]) -> None:
    cfg, full = daily["cfg"], daily["full"]
    assert full.snapshot_dates == tuple(DAYS) and full.label_cutoffs == tuple(DAYS[:-1])
    for t in GOLD:
        rebuilt = sorted_rows(table(spark, cfg, t))
        assert rebuilt == daily["incremental"][t.key], f"{t.key} differs after the full rebuild"
        assert rebuilt, f"{t.key} is empty"
        assert full.rows[t.key] == len(rebuilt), f"{t.key}: the rows the full rebuild reports are the rows of its commit"
    print("\n" + ", ".join(f"{name} {n:,}" for name, n in full.rows.items()))
    assert [r.label_cutoffs for r in daily["results"]] == [(), (DAYS[0],)]  # horizon 1 day: each day labels the day before


def test_the_full_rebuild_is_recorded_in_the_run_ledger(spark: SparkSession, daily: dict[str, Any]) -> None:
    cfg, full = daily["cfg"], daily["full"]
    featurize_runs = lake.read(spark, cfg, RUN_LEDGER).where(F.col("job") == "featurize")
    (end,) = featurize_runs.where((F.col("status") == "succeeded") & F.col("run_date").isNull()).collect()  # the days' runs have dates
    assert (end.run_date, json.loads(end.params), end.error) == (None, {"date": None, "full": True}, None)  # no date: a whole-history run
    assert end.rows_in is None and end.rows_out == full.rows_out == sum(full.rows.values())
    assert end.figures == {**{f"rows_{t.key}": float(full.rows[t.key]) for t in GOLD}, "event_days": float(len(DAYS))}
    (start,) = featurize_runs.where((F.col("status") == "running") & (F.col("run_id") == end.run_id)).collect()
    assert (start.run_id, start.job, start.ended_at, start.figures) == (end.run_id, "featurize", None, None)


def test_snapshots_are_point_in_time(spark: SparkSession, daily: dict[str, Any]) -> None:
    cfg = daily["cfg"]
    first = lake.read(spark, cfg, USER_FEATURES, {"as_of_date": DAYS[0]})
    # Features as of day 1 never read a later event ...
    assert first.agg(F.max("last_event_time")).first()[0] < dt.datetime.combine(DAYS[1], dt.time())
    # ... and the snapshot written when day 1 was the last day is the one rebuilt after day 2 came.
    assert sorted_rows(first) == daily["snapshots"][DAYS[0]]
    later_users = table(spark, cfg, SESSIONS).where(F.col("session_date") > DAYS[0]).select("user_id").distinct()
    assert later_users.join(first, "user_id", how="left_anti").count() > 0  # day 2 brought users day 1 could not know
    # Labels of cut-off day 1 read only day 2: churned is exactly "no session on day 2".
    lab = lake.read(spark, cfg, LABELS, {"cutoff_date": DAYS[0]})
    active_day2 = table(spark, cfg, SESSIONS).where(F.col("session_date") == DAYS[1]).select("user_id").distinct()
    expected_kept = first.select("user_id").join(active_day2, "user_id", how="inner").count()
    assert lab.count() == first.count() and lab.where(~F.col("churned")).count() == expected_kept


def test_labelled_joins_features_as_of_the_cutoff(spark: SparkSession, daily: dict[str, Any]) -> None:
    cfg = daily["cfg"]
    features = lake.read(spark, cfg, USER_FEATURES, {"as_of_date": DAYS[0]})
    ts = labelled(features, lake.read(spark, cfg, LABELS, {"cutoff_date": DAYS[0]}))
    assert ts.count() == features.count() > 0
    assert ts.columns == [*features.columns, "horizon_days", "churned", "purchased"]  # one row per user: the features, then the labels
    assert ts.agg(F.max("last_event_time")).first()[0] < dt.datetime.combine(DAYS[1], dt.time())
    assert 0 < ts.where("churned").count() < ts.count() and ts.where("purchased").count() > 0


def test_kpis_count_new_and_returning_users(spark: SparkSession, daily: dict[str, Any]) -> None:
    cfg = daily["cfg"]
    kpis = {r.kpi_date: r for r in table(spark, cfg, DAILY_KPIS).collect()}
    assert set(kpis) == set(DAYS) and kpis[DAYS[0]].returning_users == 0
    for day in DAYS[1:]:
        earlier = table(spark, cfg, SESSIONS).where(F.col("session_date") < day).select("user_id").distinct()
        today = table(spark, cfg, SESSIONS).where(F.col("session_date") == day).select("user_id").distinct()
        assert kpis[day].returning_users == today.join(earlier, "user_id", how="inner").count() > 0
        assert kpis[day].new_users + kpis[day].returning_users == kpis[day].active_users


def test_item_features_and_interactions_add_up(spark: SparkSession, daily: dict[str, Any]) -> None:
    cfg = daily["cfg"]
    last = DAYS[-1]
    items = lake.read(spark, cfg, ITEM_FEATURES, {"as_of_date": last})
    inter = lake.read(spark, cfg, INTERACTIONS, {"as_of_date": last})
    silver_views = table(spark, cfg, SILVER_EVENTS).where("event_type = 'view' AND NOT is_bot").count()
    assert items.agg(F.sum("views")).first()[0] == inter.agg(F.sum("views")).first()[0] == silver_views
    top = items.orderBy("popularity_rank").first()
    assert top.popularity_rank == 1 and top.unique_users == items.agg(F.max("unique_users")).first()[0]
    assert items.where("views_7d > views").count() == 0 and inter.where("strength <= 0").count() == 0

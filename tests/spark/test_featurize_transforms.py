"""The featurize transforms on tiny inline DataFrames: sessionisation, ranks, labels, decay."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake.catalog import DAILY_KPIS, INTERACTIONS, ITEM_FEATURES, LABELS, SESSIONS, SILVER_EVENTS, USER_FEATURES, USER_ITEM_DAILY, Table
from ecomlake.config import FeaturizeConfig, InteractionWeights
from ecomlake.featurize.activity import user_item_daily
from ecomlake.featurize.interactions import interactions
from ecomlake.featurize.items import item_features, with_popularity_ranks
from ecomlake.featurize.kpis import daily_kpis
from ecomlake.featurize.labels import labels
from ecomlake.featurize.ranking import with_competition_rank, with_quintile
from ecomlake.featurize.sessions import sessions
from ecomlake.featurize.users import user_features, with_rfm_scores
from ecomlake.vocabulary import SILVER_EVENT_COLUMNS

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("user_session", T.StringType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("order_id", T.StringType()),
    ]
)


def events(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    df = spark.createDataFrame([(dt.datetime.fromisoformat(r[0]), *r[1:]) for r in rows], EVENT_SCHEMA)
    return df.withColumn("event_date", df.event_time.cast("date"))


def session_rows(df: DataFrame) -> list[tuple]:
    return sorted(
        (r.user_id, str(r.session_start), r.events, r.duration_seconds, r.dwell_seconds, r.dwell_events, r.orders, r.revenue)
        for r in sessions(df, gap_minutes=30, dwell_cap_seconds=600).collect()
    )


def test_sessions_split_on_gaps_source_ids_and_midnight(spark: SparkSession) -> None:
    df = events(
        spark,
        [
            # user 1, no source session: a 40-minute silence starts a new session
            ("2019-10-01 10:00:00", "view", 1, None, 10, 5.0, None),
            ("2019-10-01 10:10:00", "view", 1, None, 11, 6.0, None),
            ("2019-10-01 10:50:00", "view", 1, None, 10, 5.0, None),
            # user 2, source session s1 with a 40-minute silence inside: split; s2 interleaves but stays apart
            ("2019-10-01 12:00:00", "view", 2, "s1", 20, 1.0, None),
            ("2019-10-01 12:01:00", "view", 2, "s2", 21, 1.0, None),
            ("2019-10-01 12:02:00", "view", 2, "s1", 20, 1.0, None),
            ("2019-10-01 12:42:00", "view", 2, "s1", 22, 1.0, None),
            # user 3: across midnight UTC is two sessions; a 20-minute pause is capped at 600 s of dwell
            ("2019-10-01 23:40:00", "view", 3, "s3", 30, 1.0, None),
            ("2019-10-02 00:00:00", "view", 3, "s3", 30, 1.0, None),
            ("2019-10-02 00:01:00", "cart", 3, "s3", 30, 1.0, None),
            # user 4: purchases in two orders by order id; revenue sums the purchase prices
            ("2019-10-01 09:00:00", "purchase", 4, None, 40, 10.0, "o1"),
            ("2019-10-01 09:00:30", "purchase", 4, None, 41, 20.0, "o1"),
            ("2019-10-01 09:01:00", "purchase", 4, None, 42, 30.0, "o2"),
        ],
    )
    assert session_rows(df) == [
        (1, "2019-10-01 10:00:00", 2, 600.0, 600.0, 1, 0, 0.0),
        (1, "2019-10-01 10:50:00", 1, 0.0, 0.0, 0, 0, 0.0),
        (2, "2019-10-01 12:00:00", 2, 120.0, 120.0, 1, 0, 0.0),
        (2, "2019-10-01 12:01:00", 1, 0.0, 0.0, 0, 0, 0.0),
        (2, "2019-10-01 12:42:00", 1, 0.0, 0.0, 0, 0, 0.0),
        (3, "2019-10-01 23:40:00", 1, 0.0, 0.0, 0, 0, 0.0),
        (3, "2019-10-02 00:00:00", 2, 60.0, 60.0, 1, 0, 0.0),
        (4, "2019-10-01 09:00:00", 3, 60.0, 60.0, 2, 2, 60.0),
    ]
    capped = events(spark, [("2019-10-01 12:00:00", "view", 5, None, 1, 1.0, None), ("2019-10-01 12:20:00", "view", 5, None, 2, 1.0, None)])
    assert session_rows(capped) == [(5, "2019-10-01 12:00:00", 2, 1200.0, 600.0, 1, 0, 0.0)]


def test_session_ids_are_stable_and_distinct(spark: SparkSession) -> None:
    df = events(spark, [("2019-10-01 12:00:00", "view", 2, "s1", 20, 1.0, None), ("2019-10-01 12:00:00", "view", 2, "s2", 20, 1.0, None)])
    first = sorted(r.session_id for r in sessions(df, 30, 600).collect())
    assert len(set(first)) == 2 and first == sorted(r.session_id for r in sessions(df, 30, 600).collect())


def test_quintiles_use_mid_ranks_and_ties_share_a_score(spark: SparkSession) -> None:
    df = spark.createDataFrame([(i, float(i)) for i in range(1, 11)], "id long, v double")
    scored = {
        r.id: (r.q, r.q_low) for r in df.transform(with_quintile, "v", "q").transform(with_quintile, "v", "q_low", higher_is_better=False).collect()
    }
    assert [scored[i][0] for i in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [scored[i][1] for i in range(1, 11)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    tied = spark.createDataFrame([(i, 0.0) for i in range(4)], "id long, v double").transform(with_quintile, "v", "q")
    assert {r.q for r in tied.collect()} == {3}


def test_competition_rank(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 5), (2, 5), (3, 3), (4, 1)], "id long, users long").transform(with_competition_rank, "users", "rank")
    assert sorted((r.id, r.rank) for r in df.collect()) == [(1, 1), (2, 1), (3, 3), (4, 4)]


SESSION_SCHEMA = "user_id long, session_date date, purchases long"


def test_labels_look_only_after_the_cutoff(spark: SparkSession) -> None:
    d = dt.date(2019, 10, 10)
    s = spark.createDataFrame(
        [
            (1, d, 1),  # bought on the cut-off day itself, then nothing: churned, not purchased
            (2, d - dt.timedelta(days=5), 0),
            (2, d + dt.timedelta(days=3), 1),  # came back and bought inside the horizon
            (3, d - dt.timedelta(days=1), 0),
            (3, d + dt.timedelta(days=8), 1),  # came back after the horizon: churned
            (4, d + dt.timedelta(days=1), 0),  # first seen after the cut-off: not in the population
            (5, d, 0),
            (5, d + dt.timedelta(days=7), 0),  # active on the horizon's last day, no purchase
        ],
        SESSION_SCHEMA,
    )
    got = sorted((r.user_id, r.churned, r.purchased, r.horizon_days, r.cutoff_date) for r in labels(s, d, 7).collect())
    assert got == [(1, True, False, 7, d), (2, False, True, 7, d), (3, True, False, 7, d), (5, False, False, 7, d)]


def test_interaction_strength_weights_and_decay(spark: SparkSession) -> None:
    d = dt.date(2019, 10, 31)
    df = events(
        spark,
        [
            ("2019-10-31 10:00:00", "view", 1, None, 7, 1.0, None),
            ("2019-10-31 10:01:00", "cart", 1, None, 7, 1.0, None),
            ("2019-10-01 10:00:00", "purchase", 1, None, 7, 1.0, None),  # 30 days old: half weight
            ("2019-11-01 10:00:00", "purchase", 1, None, 7, 1.0, None),  # after as_of: ignored
        ],
    )
    activity = user_item_daily(df.withColumn("category_id", df.product_id).withColumn("category_code", df.order_id).withColumn("brand", df.order_id))
    config = FeaturizeConfig(interaction_weights=InteractionWeights(view=1.0, cart=3.0, remove_from_cart=0.0, purchase=5.0))
    (row,) = interactions(activity, d, config).collect()
    assert (row.views, row.carts, row.purchases) == (1, 1, 1)
    assert row.strength == pytest.approx(1.0 + 3.0 + 5.0 * 0.5)
    (undecayed,) = interactions(activity, d, FeaturizeConfig(interaction_half_life_days=None)).collect()
    assert undecayed.strength == pytest.approx(9.0)


def test_the_sites_own_event_types_are_counted_in_gold_and_weighted_in_the_interactions(spark: SparkSession) -> None:
    d, extra = dt.date(2019, 10, 31), ("wishlist", "share")
    df = events(
        spark,
        [
            ("2019-10-31 10:00:00", "view", 7, None, 1, 1.0, None),  # user 7, product 1
            ("2019-10-31 10:01:00", "wishlist", 7, None, 1, 1.0, None),
            ("2019-10-31 10:02:00", "wishlist", 7, None, 1, 1.0, None),
            ("2019-10-01 10:00:00", "wishlist", 7, None, 2, 1.0, None),  # 30 days old: before the 30-day window, half weight
            ("2019-10-31 11:00:00", "share", 8, None, 1, 1.0, None),
        ],
    )
    df = df.withColumn("category_id", df.product_id).withColumn("category_code", F.lit("a.b")).withColumn("brand", F.lit("acme"))
    activity = user_item_daily(df, extra)
    s = sessions(df, 30, 600)
    (kpi,) = daily_kpis(s, activity, [d], extra).collect()
    assert (kpi.events, kpi.views, kpi.extra_events) == (4, 1, {"wishlist": 2, "share": 1})
    config = FeaturizeConfig(windows_days=(7, 30))
    got = {r.user_id: r for r in user_features(s, activity, d, config, extra).collect()}
    assert (got[7].extra_events, got[7].extra_events_7d, got[7].extra_events_30d) == (
        {"wishlist": 3, "share": 0}, {"wishlist": 2, "share": 0}, {"wishlist": 2, "share": 0},
    )  # fmt: skip
    assert got[8].extra_events_7d == {"wishlist": 0, "share": 1}
    strength = {r.product_id: r.strength for r in interactions(activity, d, config, {"wishlist": 2.0, "share": 0.0}).collect() if r.user_id == 7}
    assert strength == pytest.approx({1: 1.0 + 2 * 2.0, 2: 2.0 * 0.5})
    assert daily_kpis(s, user_item_daily(df), [d]).first().extra_events == {}  # none declared: an empty map (and the rows quarantined)


def test_each_transform_makes_exactly_its_catalog_tables_columns(spark: SparkSession) -> None:
    """The transforms and the table catalog are declared apart: lake.write conforms a transform's output to its table,
    which fails on a missing or an extra column. Checked here on the query plans alone (no Spark job), windows included."""
    silver = SILVER_EVENTS.schema().struct()
    schema = T.StructType([silver[name] for name in SILVER_EVENT_COLUMNS])
    d = dt.date(2019, 10, 1)
    row = (dt.datetime(2019, 10, 1, 10), d, "purchase", 1, "s1", 7, 70, "a.b", "acme", 9.5, "o1")
    events = spark.createDataFrame([row], schema)
    config = FeaturizeConfig(windows_days=(3, 28))
    s, activity = sessions(events, 30, 600), user_item_daily(events)
    made: list[tuple[Table, T.StructType]] = [
        (SESSIONS, s.schema),
        (USER_ITEM_DAILY, activity.schema),
        (DAILY_KPIS, daily_kpis(s, activity, [d]).schema),
        (LABELS, labels(s, d, 7).schema),
        (INTERACTIONS, interactions(activity, d, config).schema),
        (USER_FEATURES, with_rfm_scores(user_features(s, activity, d, config)).schema),
        (ITEM_FEATURES, with_popularity_ranks(item_features(activity, d, config), config.windows_days).schema),
    ]
    for table, got in made:
        documented = table.schema(config.windows_days)
        assert sorted(got.fieldNames()) == sorted(documented.names), table.key
        conformed = documented.conform(spark.createDataFrame([], got))  # casts each column to its documented type
        assert conformed.columns == documented.names, table.key
    assert "views_28d" in dict(made)[USER_FEATURES].fieldNames() and "views_90d" not in dict(made)[USER_FEATURES].fieldNames()

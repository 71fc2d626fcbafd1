"""User features as of a date (gold.user_features): RFM, browsing, dwell, funnel, affinity, price.

Point in time: only sessions and daily activity on or before ``as_of`` are read, so events after it
cannot change a snapshot. Definitions of every column: gold.user_features in ecomlake.catalog.features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.config import FeaturizeConfig
from ecomlake.featurize.columns import exact_sum, extra_events_map, ratio
from ecomlake.featurize.ranking import with_quintile
from ecomlake.vocabulary import UNKNOWN


def days_before(as_of: dt.date, ts: Column) -> Column:
    return F.datediff(F.lit(as_of), F.to_date(ts))


def user_features(sessions: DataFrame, activity: DataFrame, as_of: dt.date, config: FeaturizeConfig, extra_types: Sequence[str] = ()) -> DataFrame:
    """gold.user_features rows as of ``as_of`` from gold.sessions and gold.user_item_daily (any history),
    without the RFM scores: :func:`with_rfm_scores` adds them, over all the rows of each as-of date.
    ``extra_types``: the site's own event types (events.extra_types), counted in the ``extra_events`` maps."""
    sessions = sessions.where(F.col("session_date") <= F.lit(as_of))
    activity = activity.where(F.col("event_date") <= F.lit(as_of))
    features = (
        _from_sessions(sessions, as_of, config.windows_days)
        .transform(_with_extra_events, activity, as_of, config.windows_days, extra_types)
        .join(_from_activity(activity), "user_id", how="left")
        .join(_affinity(activity, "category_code", "top_categories", config.top_affinities), "user_id", how="left")
        .join(_affinity(activity, "brand", "top_brands", config.top_affinities), "user_id", how="left")
        .withColumn("as_of_date", F.lit(as_of))
        .withColumn("tenure_days", days_before(as_of, F.col("first_event_time")))
        .withColumn("recency_days", days_before(as_of, F.col("last_event_time")))
        .withColumn("days_since_last_purchase", days_before(as_of, F.col("last_purchase_time")))
        .withColumn("avg_order_value", ratio(F.col("revenue"), F.col("orders")))
        .withColumn("price_ratio", ratio(F.col("avg_price_bought"), F.col("avg_price_viewed")))
        .withColumn("top_categories", F.coalesce("top_categories", F.array()))
        .withColumn("top_brands", F.coalesce("top_brands", F.array()))
    )
    return features


def _from_sessions(sessions: DataFrame, as_of: dt.date, windows: tuple[int, ...]) -> DataFrame:
    def in_window(days: int) -> Column:
        return F.col("session_date") > F.date_sub(F.lit(as_of), days)

    windowed = [
        F.coalesce(F.sum(F.when(in_window(w), F.col(metric) if metric != "sessions" else F.lit(1))), F.lit(0)).alias(f"{metric}_{w}d")
        for w in windows
        for metric in ("sessions", "views", "carts", "purchases")
    ]
    has_cart = F.col("carts") > 0
    return sessions.groupBy("user_id").agg(
        F.min("session_start").alias("first_event_time"),
        F.max("session_end").alias("last_event_time"),
        F.max("last_purchase_time").alias("last_purchase_time"),
        F.size(F.collect_set("session_date")).cast("long").alias("active_days"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("orders").alias("orders"),
        exact_sum("revenue").alias("revenue"),
        *[F.sum(c).alias(c) for c in ("events", "views", "carts", "removes", "purchases")],
        *windowed,
        ratio(F.count(F.when(has_cart & (F.col("purchases") == 0), True)), F.count(F.when(has_cart, True))).alias("cart_abandonment_rate"),
        (exact_sum("duration_seconds") / F.count(F.lit(1))).alias("avg_session_seconds"),
        ratio(exact_sum("dwell_seconds"), F.sum("dwell_events")).alias("avg_dwell_seconds"),
        F.mode("start_hour", deterministic=True).alias("preferred_hour"),
        F.mode("start_weekday", deterministic=True).alias("preferred_weekday"),
    )


def _with_extra_events(users: DataFrame, activity: DataFrame, as_of: dt.date, windows: tuple[int, ...], extra_types: Sequence[str]) -> DataFrame:
    """Add ``extra_events`` and ``extra_events_<w>d``: the user's events of each of the site's own types, all time and per window."""
    names = ["extra_events", *[f"extra_events_{w}d" for w in windows]]
    empty = extra_events_map(F.lit, ())
    if not extra_types:  # the maps are empty: no second pass over the activity
        return users.select("*", *[empty.alias(n) for n in names])

    def events(t: str, window: int | None) -> Column:
        n = F.col("extra_events")[t]
        return F.sum(n if window is None else F.when(F.col("event_date") > F.date_sub(F.lit(as_of), window), n))

    maps = [extra_events_map(lambda t, w=w: events(t, w), extra_types) for w in (None, *windows)]  # type: ignore[misc]
    per_user = activity.groupBy("user_id").agg(*[m.alias(n) for m, n in zip(maps, names, strict=True)])
    return users.join(per_user, "user_id", how="left").select(
        *[F.col(c) for c in users.columns], *[F.coalesce(F.col(n), empty).alias(n) for n in names]
    )


def _from_activity(activity: DataFrame) -> DataFrame:
    per_product = activity.groupBy("user_id", "product_id").agg(
        (F.sum("views") > 0).alias("viewed"),
        (F.sum("carts") > 0).alias("carted"),
        (F.sum("purchases") > 0).alias("bought"),
        F.sum("priced_views").alias("priced_views"),
        exact_sum("view_price_sum").alias("view_price_sum"),
        F.sum("priced_purchases").alias("priced_purchases"),
        exact_sum("revenue").alias("revenue"),
    )
    viewed, carted, bought = F.col("viewed"), F.col("carted"), F.col("bought")
    return per_product.groupBy("user_id").agg(
        ratio(F.count(F.when(viewed & carted, True)), F.count(F.when(viewed, True))).alias("view_to_cart_rate"),
        ratio(F.count(F.when(carted & bought, True)), F.count(F.when(carted, True))).alias("cart_to_purchase_rate"),
        ratio(exact_sum("view_price_sum"), F.sum("priced_views")).alias("avg_price_viewed"),
        ratio(exact_sum("revenue"), F.sum("priced_purchases")).alias("avg_price_bought"),
    )


def _affinity(activity: DataFrame, key: str, out: str, top: int) -> DataFrame:
    """The user's ``top`` values of ``key`` by events, each with its share of all the user's events."""
    extra = F.aggregate(F.map_values("extra_events"), F.lit(0).cast("long"), lambda acc, n: acc + n)  # the site's own types count too
    events = F.col("views") + F.col("carts") + F.col("removes") + F.col("purchases") + extra
    per_value = activity.groupBy("user_id", key).agg(F.sum(events).alias("_events"))
    user_total = Window.partitionBy("user_id")
    by_events = Window.partitionBy("user_id").orderBy(F.col("_events").desc(), F.col(key).asc())
    ranked = (
        per_value.withColumn("_share", F.col("_events") / F.sum("_events").over(user_total))
        .where(F.col(key) != UNKNOWN)
        .withColumn("_rank", F.row_number().over(by_events))
        .where(F.col("_rank") <= top)
    )
    entry = F.struct(F.col("_rank").alias("rank"), F.col(key).alias("name"), F.col("_share").alias("share"))
    return ranked.groupBy("user_id").agg(F.sort_array(F.collect_list(entry)).alias(out))


def with_rfm_scores(users: DataFrame) -> DataFrame:
    """Add r_score (all users, by recency), f_score and m_score (buyers, by orders and revenue; 0 without orders)
    and rfm_segment; quintiles are taken within each as_of_date."""
    by = ["as_of_date"]
    buyer_scores = (
        users.where(F.col("orders") > 0)
        .select("user_id", "as_of_date", "orders", "revenue")
        .transform(with_quintile, "orders", "f_score", by=by)
        .transform(with_quintile, "revenue", "m_score", by=by)
        .select("user_id", "as_of_date", "f_score", "m_score")
    )
    scored = (
        users.transform(with_quintile, "recency_days", "r_score", higher_is_better=False, by=by)
        .join(buyer_scores, ["user_id", "as_of_date"], how="left")
        .withColumn("f_score", F.coalesce("f_score", F.lit(0)))
        .withColumn("m_score", F.coalesce("m_score", F.lit(0)))
    )
    return scored.withColumn("rfm_segment", F.concat(*[F.col(c).cast("string") for c in ("r_score", "f_score", "m_score")]))

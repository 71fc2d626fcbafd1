"""Daily KPIs (gold.daily_kpis): traffic, funnel and sales per UTC day, from gold.sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecomlake.featurize.columns import exact_sum, extra_events_map, ratio


def daily_kpis(sessions: DataFrame, activity: DataFrame, days: Sequence[dt.date], extra_types: Sequence[str] = ()) -> DataFrame:
    """gold.daily_kpis rows for ``days`` from gold.sessions, which must hold every earlier day too
    (a user is new on the day of their first session ever), and the site's own event types (``extra_types``)
    from gold.user_item_daily."""
    last_day = max(days)
    history = sessions.where(F.col("session_date") <= F.lit(last_day))
    first_day = history.groupBy("user_id").agg(F.min("session_date").alias("_first_day"))
    day_sessions = history.where(F.col("session_date").isin(list(days))).join(first_day, "user_id", how="left")

    # Per (day, user) first, so the day's users are counted without distinct aggregates.
    def has(column: str) -> Column:
        return F.when(F.col(column) > 0, 1).otherwise(0)

    per_user = day_sessions.groupBy("session_date", "user_id").agg(
        F.max(F.col("_first_day") == F.col("session_date")).alias("_is_new"),
        F.count(F.lit(1)).alias("sessions"),
        *[F.sum(c).alias(c) for c in ("events", "views", "carts", "removes", "purchases", "orders")],
        *[exact_sum(c).alias(c) for c in ("revenue", "duration_seconds")],
        F.sum(has("views")).alias("sessions_with_view"),
        F.sum(has("carts")).alias("sessions_with_cart"),
        F.sum(has("purchases")).alias("sessions_with_purchase"),
        F.sum(has("views") * has("carts")).alias("_view_and_cart"),
        F.sum(has("carts") * has("purchases")).alias("_cart_and_purchase"),
        F.sum(F.when(F.col("events") == 1, 1).otherwise(0)).alias("_single_event"),
    )
    kpis = per_user.groupBy(F.col("session_date").alias("kpi_date")).agg(
        F.count(F.lit(1)).alias("active_users"),
        F.count(F.when(F.col("_is_new"), True)).alias("new_users"),
        *[F.sum(c).alias(c) for c in ("sessions", "events", "views", "carts", "removes", "purchases", "orders")],
        exact_sum("revenue").alias("gmv"),
        *[F.sum(c).alias(c) for c in ("sessions_with_view", "sessions_with_cart", "sessions_with_purchase", "_view_and_cart", "_cart_and_purchase")],
        F.sum("_single_event").alias("_single_event"),
        (exact_sum("duration_seconds") / F.sum("sessions")).alias("avg_session_seconds"),
    )
    if extra_types:
        per_day = activity.where(F.col("event_date").isin(list(days))).groupBy(F.col("event_date").alias("kpi_date"))
        extra = per_day.agg(extra_events_map(lambda t: F.sum(F.col("extra_events")[t]), extra_types).alias("extra_events"))
        kpis = kpis.join(extra, "kpi_date", how="left")
    else:
        kpis = kpis.withColumn("extra_events", extra_events_map(F.lit, ()))
    return (
        kpis.withColumn("returning_users", F.col("active_users") - F.col("new_users"))
        .withColumn("aov", ratio(F.col("gmv"), F.col("orders")))
        .withColumn("view_to_cart_rate", ratio(F.col("_view_and_cart"), F.col("sessions_with_view")))
        .withColumn("cart_to_purchase_rate", ratio(F.col("_cart_and_purchase"), F.col("sessions_with_cart")))
        .withColumn("conversion_rate", ratio(F.col("sessions_with_purchase"), F.col("sessions")))
        .withColumn("bounce_rate", ratio(F.col("_single_event"), F.col("sessions")))
        .drop("_view_and_cart", "_cart_and_purchase", "_single_event")
    )

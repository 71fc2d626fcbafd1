"""Daily KPIs (gold.daily_kpis): traffic, funnel and sales per UTC day, from gold.sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.featurize.users import ratio


def daily_kpis(sessions: DataFrame, days: Sequence[dt.date]) -> DataFrame:
    """gold.daily_kpis rows for ``days`` from gold.sessions, which must hold every earlier day too
    (a user is new on the day of their first session ever)."""
    last_day = max(days)
    history = sessions.where(F.col("session_date") <= F.lit(last_day))
    first_day = history.groupBy("user_id").agg(F.min("session_date").alias("_first_day"))
    day_sessions = history.where(F.col("session_date").isin(list(days))).join(first_day, "user_id", how="left")
    is_new = F.col("_first_day") == F.col("session_date")
    count_sessions = lambda condition: F.count(F.when(condition, True))  # noqa: E731
    kpis = day_sessions.groupBy(F.col("session_date").alias("kpi_date")).agg(
        F.count_distinct("user_id").alias("active_users"),
        F.count_distinct(F.when(is_new, F.col("user_id"))).alias("new_users"),
        F.count(F.lit(1)).alias("sessions"),
        *[F.sum(c).alias(c) for c in ("events", "views", "carts", "removes", "purchases", "orders")],
        F.sum("revenue").alias("gmv"),
        count_sessions(F.col("views") > 0).alias("sessions_with_view"),
        count_sessions(F.col("carts") > 0).alias("sessions_with_cart"),
        count_sessions(F.col("purchases") > 0).alias("sessions_with_purchase"),
        count_sessions((F.col("views") > 0) & (F.col("carts") > 0)).alias("_view_and_cart"),
        count_sessions((F.col("carts") > 0) & (F.col("purchases") > 0)).alias("_cart_and_purchase"),
        count_sessions(F.col("events") == 1).alias("_single_event"),
        F.avg("duration_seconds").alias("avg_session_seconds"),
    )
    return (
        kpis.withColumn("returning_users", F.col("active_users") - F.col("new_users"))
        .withColumn("aov", ratio(F.col("gmv"), F.col("orders")))
        .withColumn("view_to_cart_rate", ratio(F.col("_view_and_cart"), F.col("sessions_with_view")))
        .withColumn("cart_to_purchase_rate", ratio(F.col("_cart_and_purchase"), F.col("sessions_with_cart")))
        .withColumn("conversion_rate", ratio(F.col("sessions_with_purchase"), F.col("sessions")))
        .withColumn("bounce_rate", ratio(F.col("_single_event"), F.col("sessions")))
        .drop("_view_and_cart", "_cart_and_purchase", "_single_event")
    )

"""Sessionisation: silver events -> one row per session (gold.sessions).

A session is a maximal run of one user's events, in time order, in which no gap exceeds
``featurize.session_gap_minutes``; when the source has session ids (REES46 ``user_session``), a
session also stays within one of them: the source's session is used when it is trustworthy, and
split where it is not (a source session with a long silence inside becomes several). Sessions end
at midnight UTC, as in web analytics, so a day's sessions depend only on that day's events and a
day can be recomputed alone.

Dwell time: each event's dwell is the gap to the session's next event, capped at
``featurize.dwell_cap_seconds`` (a long pause is a tab left open, not reading); the last event of a
session has no known dwell.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.featurize.columns import count_of, exact_sum, iso_weekday, seconds_between
from ecomlake.vocabulary import CART, PURCHASE, REMOVE, VIEW


def assign_sessions(events: DataFrame, gap_minutes: int, dwell_cap_seconds: int) -> DataFrame:
    """Add ``session_id``, ``session_start`` and ``dwell_seconds`` to each event."""
    source = F.coalesce(F.col("user_session"), F.lit(""))
    # Ties in event_time are ordered by type and product so re-runs number them the same way.
    by_source_session = Window.partitionBy("event_date", "user_id", "_source").orderBy("event_time", "event_type", "product_id")
    previous_time = F.lag("event_time").over(by_source_session)
    is_start = previous_time.isNull() | (seconds_between(F.col("event_time"), previous_time) > gap_minutes * 60)
    so_far = by_source_session.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    next_time = F.lead("event_time").over(by_source_session)
    is_next_in_session = next_time.isNotNull() & ~F.lead("_is_start").over(by_source_session)
    dwell = F.when(is_next_in_session, F.least(seconds_between(next_time, F.col("event_time")), F.lit(float(dwell_cap_seconds))))
    with_start = (
        events.withColumn("_source", source)
        .withColumn("_is_start", is_start)
        .withColumn("session_start", F.max(F.when(F.col("_is_start"), F.col("event_time"))).over(so_far))
        .withColumn("dwell_seconds", dwell)
    )
    session_id = F.md5(F.concat_ws("|", F.col("user_id").cast("string"), F.col("_source"), F.unix_micros("session_start").cast("string")))
    return with_start.withColumn("session_id", session_id).drop("_source", "_is_start")


def sessions(events: DataFrame, gap_minutes: int, dwell_cap_seconds: int) -> DataFrame:
    """gold.sessions rows (see ecomlake.featurize.schemas.SESSIONS) from silver events of one or more days."""
    is_purchase = F.col("event_type") == PURCHASE
    order_key = F.coalesce(F.col("order_id"), F.col("session_id"))
    grouped = (
        events.transform(assign_sessions, gap_minutes, dwell_cap_seconds)
        .groupBy("session_id", "user_id", F.col("event_date").alias("session_date"), F.col("user_session").alias("source_session_id"))
        .agg(
            F.min("event_time").alias("session_start"),
            F.max("event_time").alias("session_end"),
            F.count(F.lit(1)).alias("events"),
            count_of(VIEW).alias("views"),
            count_of(CART).alias("carts"),
            count_of(REMOVE).alias("removes"),
            count_of(PURCHASE).alias("purchases"),
            # Sets per session are small; size(collect_set) avoids the row expansion of several distinct counts.
            F.size(F.collect_set("product_id")).cast("long").alias("distinct_products"),
            F.size(F.collect_set(F.when(is_purchase, order_key))).cast("long").alias("orders"),
            F.coalesce(exact_sum(F.when(is_purchase, F.col("price"))), F.lit(0.0)).alias("revenue"),
            F.max(F.when(is_purchase, F.col("event_time"))).alias("last_purchase_time"),
            F.coalesce(exact_sum("dwell_seconds"), F.lit(0.0)).alias("dwell_seconds"),
            F.count("dwell_seconds").alias("dwell_events"),
        )
    )
    return grouped.select(
        "session_id",
        "user_id",
        "session_date",
        "source_session_id",
        "session_start",
        "session_end",
        seconds_between(F.col("session_end"), F.col("session_start")).alias("duration_seconds"),
        "events",
        "views",
        "carts",
        "removes",
        "purchases",
        "distinct_products",
        "orders",
        "revenue",
        (F.col("purchases") > 0).alias("is_converted"),
        "last_purchase_time",
        "dwell_seconds",
        "dwell_events",
        F.hour("session_start").alias("start_hour"),
        iso_weekday(F.col("session_start")).alias("start_weekday"),
    )

"""Item features as of a date (gold.item_features): traffic, buyers, conversion, price, popularity.

Point in time like user features: only daily activity on or before ``as_of``. Definitions of every
column: ecomlake.featurize.schemas.item_features.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecomlake.config import FeaturizeConfig
from ecomlake.featurize.columns import exact_sum, ratio
from ecomlake.featurize.ranking import with_competition_rank


def item_features(activity: DataFrame, as_of: dt.date, config: FeaturizeConfig) -> DataFrame:
    """gold.item_features rows as of ``as_of`` from gold.user_item_daily (any history), without the
    popularity ranks: :func:`with_popularity_ranks` adds them over all the rows of each as-of date."""
    activity = activity.where(F.col("event_date") <= F.lit(as_of))

    def in_window(days: int) -> Column:
        return F.col("event_date") > F.date_sub(F.lit(as_of), days)

    # Two levels, per (product, user) then per product, count distinct users without distinct aggregates.
    windows = config.windows_days
    per_user = activity.groupBy("product_id", "user_id").agg(
        F.min("first_event_time").alias("first_event_time"),
        F.max("last_event_time").alias("last_event_time"),
        *[F.sum(c).alias(c) for c in ("views", "carts", "purchases", "priced_views")],
        *[exact_sum(c).alias(c) for c in ("revenue", "view_price_sum")],
        F.min("price_min").alias("price_min"),
        F.max("price_max").alias("price_max"),
        F.max("event_date").alias("_last_day"),
        # The product's category and brand on its latest day; ties go to the largest values, so re-runs agree.
        F.max(F.struct("event_date", "category_code", "brand", "category_id")).alias("_latest"),
        *[F.coalesce(F.sum(F.when(in_window(w), F.col(m))), F.lit(0)).alias(f"{m}_{w}d") for w in windows for m in ("views", "carts", "purchases")],
    )
    is_recent = {w: F.col("_last_day") > F.date_sub(F.lit(as_of), w) for w in windows}
    totals = per_user.groupBy("product_id").agg(
        F.min("first_event_time").alias("first_event_time"),
        F.max("last_event_time").alias("last_event_time"),
        *[F.sum(c).alias(c) for c in ("views", "carts", "purchases")],
        exact_sum("revenue").alias("revenue"),
        F.count(F.lit(1)).alias("unique_users"),
        F.count(F.when(F.col("purchases") > 0, True)).alias("buyers"),
        ratio(exact_sum("view_price_sum"), F.sum("priced_views")).alias("price_avg"),
        F.min("price_min").alias("price_min"),
        F.max("price_max").alias("price_max"),
        *[F.sum(f"{m}_{w}d").alias(f"{m}_{w}d") for w in windows for m in ("views", "carts", "purchases")],
        *[F.count(F.when(is_recent[w], True)).alias(f"unique_users_{w}d") for w in windows],
        F.max("_latest").alias("_latest"),
    )
    items = (
        totals.select("*", *[F.col(f"_latest.{c}").alias(c) for c in ("category_id", "category_code", "brand")])
        .drop("_latest")
        .withColumn("as_of_date", F.lit(as_of))
        .withColumn("view_to_cart_rate", ratio(F.col("carts"), F.col("views")))
        .withColumn("cart_to_purchase_rate", ratio(F.col("purchases"), F.col("carts")))
        .withColumn("conversion_rate", ratio(F.col("purchases"), F.col("views")))
    )
    for suffix in _suffixes(config.windows_days):
        items = items.withColumn(f"conversion_rate{suffix}", ratio(F.col(f"purchases{suffix}"), F.col(f"views{suffix}")))
    return items


def with_popularity_ranks(items: DataFrame, windows: tuple[int, ...]) -> DataFrame:
    """Add popularity_rank and popularity_rank_<w>d (by unique users) within each as_of_date."""
    for suffix in _suffixes(windows):
        items = with_competition_rank(items, f"unique_users{suffix}", f"popularity_rank{suffix}", by=["as_of_date"])
    return items


def _suffixes(windows: tuple[int, ...]) -> list[str]:
    return ["", *[f"_{w}d" for w in windows]]

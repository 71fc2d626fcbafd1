"""Item features as of a date (gold.item_features): traffic, buyers, conversion, price, popularity.

Point in time like user features: only daily activity on or before ``as_of``. Definitions of every
column: ecomlake.featurize.schemas.item_features.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.config import FeaturizeConfig
from ecomlake.featurize.ranking import with_competition_rank
from ecomlake.featurize.users import ratio


def item_features(activity: DataFrame, as_of: dt.date, config: FeaturizeConfig) -> DataFrame:
    """gold.item_features rows as of ``as_of`` from gold.user_item_daily (any history)."""
    activity = activity.where(F.col("event_date") <= F.lit(as_of))

    def in_window(days: int) -> Column:
        return F.col("event_date") > F.date_sub(F.lit(as_of), days)

    windowed = []
    for w in config.windows_days:
        windowed += [
            F.coalesce(F.sum(F.when(in_window(w), F.col(metric))), F.lit(0)).alias(f"{metric}_{w}d") for metric in ("views", "carts", "purchases")
        ]
        windowed.append(F.count_distinct(F.when(in_window(w), F.col("user_id"))).alias(f"unique_users_{w}d"))
    # Category and brand as on the product's latest day (ties: the largest value, so re-runs agree).
    latest_first = Window.partitionBy("product_id").orderBy(F.col("event_date").desc(), F.col("category_code").desc(), F.col("brand").desc())
    latest = (
        activity.select("product_id", "event_date", "category_id", "category_code", "brand")
        .withColumn("_n", F.row_number().over(latest_first))
        .where(F.col("_n") == 1)
        .drop("_n", "event_date")
    )
    totals = activity.groupBy("product_id").agg(
        F.min("first_event_time").alias("first_event_time"),
        F.max("last_event_time").alias("last_event_time"),
        *[F.sum(c).alias(c) for c in ("views", "carts", "purchases", "revenue")],
        F.count_distinct("user_id").alias("unique_users"),
        F.count_distinct(F.when(F.col("purchases") > 0, F.col("user_id"))).alias("buyers"),
        ratio(F.sum("view_price_sum"), F.sum("priced_views")).alias("price_avg"),
        F.min("price_min").alias("price_min"),
        F.max("price_max").alias("price_max"),
        *windowed,
    )
    items = (
        totals.join(latest, "product_id", how="left")
        .withColumn("as_of_date", F.lit(as_of))
        .withColumn("view_to_cart_rate", ratio(F.col("carts"), F.col("views")))
        .withColumn("cart_to_purchase_rate", ratio(F.col("purchases"), F.col("carts")))
        .withColumn("conversion_rate", ratio(F.col("purchases"), F.col("views")))
    )
    for suffix in ("", *[f"_{w}d" for w in config.windows_days]):
        items = items.withColumn(f"conversion_rate{suffix}", ratio(F.col(f"purchases{suffix}"), F.col(f"views{suffix}")))
        items = with_competition_rank(items, f"unique_users{suffix}", f"popularity_rank{suffix}")
    return items

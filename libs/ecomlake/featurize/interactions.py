"""User-item implicit feedback as of a date (gold.interactions): the input of ALS.

``strength`` weights each event type (``featurize.interaction_weights``) and, with
``featurize.interaction_half_life_days``, halves a day's contribution every half-life, so recent
interest counts more. Age is in whole days: as_of_date minus the event's day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.config import FeaturizeConfig
from ecomlake.featurize.columns import exact_sum


def interactions(activity: DataFrame, as_of: dt.date, config: FeaturizeConfig, extra_weights: Mapping[str, float] | None = None) -> DataFrame:
    """gold.interactions rows as of ``as_of`` from gold.user_item_daily (any history); ``extra_weights``: events.extra_types."""
    w = config.interaction_weights
    weighted = F.col("views") * w.view + F.col("carts") * w.cart + F.col("removes") * w.remove_from_cart + F.col("purchases") * w.purchase
    for event_type, weight in (extra_weights or {}).items():
        weighted = weighted + F.coalesce(F.col("extra_events")[event_type], F.lit(0)) * weight
    if config.interaction_half_life_days is not None:
        age_days = F.datediff(F.lit(as_of), F.col("event_date"))
        weighted = weighted * F.pow(F.lit(0.5), age_days / config.interaction_half_life_days)
    return (
        activity.where(F.col("event_date") <= F.lit(as_of))
        .groupBy("user_id", "product_id")
        .agg(
            *[F.sum(c).alias(c) for c in ("views", "carts", "removes", "purchases")],
            F.min("first_event_time").alias("first_interaction_time"),
            F.max("last_event_time").alias("last_interaction_time"),
            exact_sum(weighted, scale=9).alias("strength"),
        )
        .withColumn("as_of_date", F.lit(as_of))
    )

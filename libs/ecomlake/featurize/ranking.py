"""Ranks and quintiles that need no global sort of the rows.

Both count, for each row, the rows with a worse or better value through a histogram of the
distinct values (small), so ties always get the same result and no window puts every row in one
partition.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def _with_counts(df: DataFrame, value: str, descending: bool) -> DataFrame:
    """Add ``_before`` (rows strictly before in the order), ``_same`` (rows with an equal value) and ``_all``."""
    histogram = df.groupBy(value).agg(F.count(F.lit(1)).alias("_same"))
    order = F.col(value).desc() if descending else F.col(value).asc()
    # One row per distinct value: a window without partitions is fine here, the rows are few.
    everything = Window.partitionBy(F.lit(0))  # (not a bare Window: that warns once per task)
    before = everything.orderBy(order).rowsBetween(Window.unboundedPreceding, -1)
    counts = histogram.select(
        value,
        "_same",
        F.coalesce(F.sum("_same").over(before), F.lit(0)).alias("_before"),
        F.sum("_same").over(everything).alias("_all"),
    )
    return df.join(counts, value, how="left")


def with_competition_rank(df: DataFrame, value: str, out: str) -> DataFrame:
    """Add ``out``: 1 + the number of rows with a strictly larger ``value``; ties share a rank ("1224")."""
    return _with_counts(df, value, descending=True).withColumn(out, (F.col("_before") + 1).cast("int")).drop("_before", "_same", "_all")


def with_quintile(df: DataFrame, value: str, out: str, higher_is_better: bool = True) -> DataFrame:
    """Add ``out``: 1..5 by the mid-rank percentile of ``value`` (5 = best fifth); ties share a score.

    The percentile counts half of the tied rows, so a value shared by everyone scores 3.
    """
    percentile = (F.col("_before") + F.col("_same") / 2) / F.col("_all")
    score = F.least(F.lit(5), (F.floor(percentile * 5) + 1).cast("int"))
    return _with_counts(df, value, descending=not higher_is_better).withColumn(out, score).drop("_before", "_same", "_all")
